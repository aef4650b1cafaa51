"""The program's own files: templates, the commented default configuration and the sample
newsroom. A built wheel carries them as digest/_data/ (see setup.py); a checkout or an
editable install reads the repository's top-level templates/ and config/."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import BaseLoader

USER_TEMPLATES = Path("templates")


@cache
def data_root() -> Path:
    """The folder holding templates/ and config/: packaged data when installed from a wheel,
    else the repository checkout this package was imported from."""
    package = Path(__file__).resolve().parent
    if (package / "_data").is_dir():
        # What importlib.resources.files("digest") / "_data" is for an installed wheel,
        # without importing importlib.resources (zipfile, bz2, lzma) at every start.
        return package / "_data"
    if (package.parent / "templates").is_dir() and (package.parent / "config").is_dir():
        return package.parent
    from importlib.resources import files

    return Path(str(files("digest") / "_data"))


def packaged_templates() -> Path:
    """The templates shipped with the program."""
    return data_root() / "templates"


TEMPLATES = packaged_templates()


def packaged_config() -> Path:
    """The shipped config folder: digest.toml (every setting, commented), the sample
    newsroom pages and the sample press list."""
    return data_root() / "config"


def template_loader(folder: str, root: Path | None = None) -> BaseLoader:
    """A loader for one template folder (email, web, feeds) of `root` (default: the packaged
    templates): a file in the run directory's templates/<folder>/ overrides the file of the
    same name there, one file at a time."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    packaged = (root or packaged_templates()) / folder
    user = USER_TEMPLATES / folder
    if user.resolve() == packaged.resolve():
        return FileSystemLoader(packaged)
    return ChoiceLoader([FileSystemLoader(user), FileSystemLoader(packaged)])

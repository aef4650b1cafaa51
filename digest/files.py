"""Files of the output folder, written atomically (temp file, fsync, rename) so a reader
never sees half a file, and only when their bytes changed so modification times stay honest."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

# The temporary file is opened without following a link planted in its place and is not
# inherited by child processes; its name (the target's, hidden, with this process and
# thread) is this writer's alone, so a leftover of a crashed run is simply overwritten.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def write_if_changed(path: str | os.PathLike[str], data: bytes, durable: bool = True) -> bool:
    """Write `data` to `path` atomically (temp file, fsync, rename) unless the file already
    holds exactly these bytes, so its modification time stays honest. True when written.
    Pages that can be rendered again from the store skip the fsync (`durable` False).
    At archive scale this runs for every page of a rebuild: it stays on os-level calls
    (a file of another size is not read; a folder is made only when the file cannot be)."""
    name = os.fspath(path)
    fresh = _FRESH.get()
    if fresh is not None and name.startswith(fresh):
        return _write_new(name, data, durable)
    if _holds(name, data):
        return False
    return _write(name, data, durable)


# The folder (with a trailing separator) that the writes of this context fill from empty.
_FRESH: ContextVar[str | None] = ContextVar("fresh", default=None)


@contextmanager
def filling(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Within this block, write_if_changed takes the files under `folder`, which did not
    exist when the block began, for new: none is read back first, and each one's own
    folder is made before it is tried (a rebuild into a new folder makes 100,000)."""
    token = _FRESH.set(os.path.join(os.fspath(folder), ""))
    try:
        yield
    finally:
        _FRESH.reset(token)


def _write_new(name: str, data: bytes, durable: bool) -> bool:
    with suppress(OSError):  # there already, or not makeable: _write says which
        os.mkdir(os.path.dirname(name))
    return _write(name, data, durable)


def _write(name: str, data: bytes, durable: bool) -> bool:
    folder, base = os.path.split(name)
    temporary = os.path.join(folder, f".{base}.{os.getpid()}-{threading.get_ident()}")
    try:
        descriptor = os.open(temporary, _CREATE, 0o644)
    except FileNotFoundError:
        try:
            os.mkdir(folder)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
        except FileExistsError:
            pass
        descriptor = os.open(temporary, _CREATE, 0o644)
    try:
        try:
            if os.fstat(descriptor).st_mode & 0o777 != 0o644:  # a umask other than 022
                os.fchmod(descriptor, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            if durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _holds(name: str, data: bytes) -> bool:
    """Whether the file `name` holds exactly `data` (False when it is missing)."""
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        if os.fstat(descriptor).st_size != len(data):
            return False
        return os.read(descriptor, len(data) + 1) == data
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class FeedFile:
    """A file of the output folder and whether this run rewrote it."""

    path: Path
    written: bool

"""Files of the output folder, written atomically (temp file, fsync, rename) so a reader
never sees half a file, and only when their bytes changed so modification times stay honest."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def write_if_changed(path: Path, data: bytes, durable: bool = True) -> bool:
    """Write `data` to `path` atomically (temp file, fsync, rename) unless the file already
    holds exactly these bytes, so its modification time stays honest. True when written.
    Pages that can be rendered again from the store skip the fsync (`durable` False)."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


@dataclass(frozen=True)
class FeedFile:
    """A file of the output folder and whether this run rewrote it."""

    path: Path
    written: bool

"""Files of the output folder: written atomically, only when their bytes change, and (inside
`filling`, a rebuild into a folder that did not exist) without reading anything back."""

from __future__ import annotations

import os
from pathlib import Path

from digest.files import filling, write_if_changed


def test_a_file_is_written_once_and_again_only_when_its_bytes_change(tmp_path: Path) -> None:
    path = tmp_path / "items" / "a-page" / "index.html"
    assert write_if_changed(path, b"<p>one</p>")
    os.utime(path, (1_000_000, 1_000_000))
    assert not write_if_changed(path, b"<p>one</p>")
    assert path.stat().st_mtime == 1_000_000
    assert write_if_changed(path, b"<p>two</p>")  # same size, other bytes
    assert path.read_bytes() == b"<p>two</p>"
    assert write_if_changed(path, b"<p>three</p>", durable=False)  # another size
    assert path.read_bytes() == b"<p>three</p>"
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.html"]  # no temp left


def test_written_files_are_readable_by_all_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_if_changed(tmp_path / "feeds" / "all.atom", b"<feed/>")
        with filling(tmp_path / "new"):
            write_if_changed(tmp_path / "new" / "items" / "b" / "index.html", b"<p/>")
    finally:
        os.umask(old)
    assert (tmp_path / "feeds" / "all.atom").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "new" / "items" / "b" / "index.html").stat().st_mode & 0o777 == 0o644


def test_filling_a_new_folder_writes_without_reading_back(tmp_path: Path) -> None:
    out = tmp_path / "public"
    with filling(out):
        assert write_if_changed(out / "items" / "c" / "index.html", b"<p>c</p>")
        assert write_if_changed(out / "404.html", b"gone")
        # taken for new inside the block: written again, not compared
        assert write_if_changed(out / "404.html", b"gone")
        # a file outside the folder is compared as ever
        assert write_if_changed(tmp_path / "elsewhere.txt", b"x")
        assert not write_if_changed(tmp_path / "elsewhere.txt", b"x")
    assert (out / "items" / "c" / "index.html").read_bytes() == b"<p>c</p>"
    assert not write_if_changed(out / "404.html", b"gone")  # compared again after the block
    assert sorted(p.name for p in out.iterdir()) == ["404.html", "items"]

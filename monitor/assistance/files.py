"""Where screenshots wait on disk, under ``data_dir/assistance/``:

- ``incoming/`` — uploads being received and checked (the dashboard spools them there);
  anything left for a day (a member who closed the page mid-upload, a crash) is deleted;
- ``<reference>/`` — a sent request's re-encoded screenshots, until the desk has them
  (deleted at once after delivery) or the retention ends.

Both are on one filesystem, so a screenshot is *moved* into its request's folder
(:func:`os.replace`, atomic), never copied. A request's folder is created exclusively: it
also reserves the reference.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from monitor.assistance.request import Screenshot

log = logging.getLogger(__name__)

#: the folder of uploads in progress
INCOMING = "incoming"
#: what a reference looks like (the name of a request's folder)
REFERENCE = re.compile(r"^DEM-\d{8}-[0-9A-Z]{4,8}$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def root(data_dir: Path) -> Path:
    """``data_dir/assistance``."""
    return data_dir / "assistance"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) and make it readable by Vigie only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def incoming(data_dir: Path) -> Path:
    """The folder of uploads in progress (created, with ``assistance/``, private)."""
    private_dir(root(data_dir))
    return private_dir(root(data_dir) / INCOMING)


def reserve(data_dir: Path, reference: str) -> Path:
    """Create the folder of request ``reference``; :class:`FileExistsError` when it exists
    (the reference is taken)."""
    parent = private_dir(root(data_dir))
    folder = parent / reference
    folder.mkdir(mode=0o700)
    return folder


def move_into(folder: Path, screenshots: Sequence[Screenshot]) -> tuple[Screenshot, ...]:
    """Move each screenshot's file into ``folder`` (``1-name.png``, ``2-…``); return them
    with their new paths."""
    moved = []
    for number, shot in enumerate(screenshots, 1):
        stem = _UNSAFE_NAME.sub("-", Path(shot.filename).stem).strip("-.")[:60] or "capture"
        suffix = Path(shot.path).suffix.lower()[:6]
        target = folder / f"{number}-{stem}{suffix}"
        os.replace(shot.path, target)
        moved.append(replace(shot, path=str(target)))
    return tuple(moved)


def discard(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Delete these files (those already gone are no error)."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("assistance: cannot delete %s: %s", path, exc)


def remove_request_files(data_dir: Path, reference: str) -> bool:
    """Delete the folder of request ``reference``; True when there was one."""
    if not REFERENCE.match(reference):
        return False  # never a path built from anything but a reference
    folder = root(data_dir) / reference
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def remove_screenshots(screenshots: Sequence[Screenshot]) -> None:
    """Delete a delivered request's screenshots and their folder once empty."""
    discard(s.path for s in screenshots)
    for folder in {Path(s.path).parent for s in screenshots}:
        if REFERENCE.match(folder.name):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty, or gone


def stale_folders(data_dir: Path, older_than: float, keep: set[str]) -> list[Path]:
    """Request folders whose request is not in ``keep`` (deleted, or never committed)
    and last changed before ``older_than``, plus incoming files that old."""
    base = root(data_dir)
    if not base.is_dir():
        return []
    found = []
    for entry in base.iterdir():
        try:
            changed = entry.stat().st_mtime
        except FileNotFoundError:
            continue
        if entry.name == INCOMING:
            found += [p for p in entry.iterdir() if _older(p, older_than)]
        elif REFERENCE.match(entry.name) and entry.name not in keep and changed < older_than:
            found.append(entry)
    return found


def _older(path: Path, older_than: float) -> bool:
    try:
        return path.stat().st_mtime < older_than
    except FileNotFoundError:
        return False


def remove(paths: Iterable[Path]) -> int:
    """Delete these files and folders; return how many."""
    count = 0
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            discard([path])
        count += 1
    return count

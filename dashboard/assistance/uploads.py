"""Reading a member's request form with its screenshots, memory bounded whatever comes.

:func:`read_upload` refuses a request whose ``Content-Length`` is over the screenshots'
total size plus :data:`FORM_MARGIN` before a byte of it is read; otherwise werkzeug parses
the ``multipart/form-data`` body piece by piece and every file part is written straight to
a file in the spool folder (a ``stream_factory``), the per-file, total and count limits
checked on each piece written: the parse stops at the first byte over a limit, and every
file written so far is deleted. Text fields are held in memory, each at most
:data:`TEXT_PART_LIMIT` bytes and all of them together about :data:`FORM_MARGIN`.

The files it returns are the member's bytes, not yet judged: give them to
:func:`dashboard.assistance.screenshots.accept_all` (which deletes them either way), or
to :func:`discard` when the request is refused for another reason.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from flask import Request
from werkzeug.datastructures import FileStorage, ImmutableMultiDict, MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from dashboard.assistance.screenshots import (
    Refused,
    refuse_count,
    refuse_too_big,
    refuse_total,
    safe_filename,
)
from monitor.assistance.settings import MB, ScreenshotLimits

#: bytes a request may have besides its screenshots: the text fields (a description of
#: 100,000 characters is 400 KB at worst in UTF-8) and the multipart framing
FORM_MARGIN = 1 * MB
#: largest text field, in bytes
TEXT_PART_LIMIT = 512 * 1024
#: parts (fields and files) a form may have
MAX_PARTS = 64
#: bytes werkzeug reads at a time (what the parse holds of the body)
READ_SIZE = 64 * 1024


def body_limit(limits: ScreenshotLimits) -> int:
    """The largest request body accepted: the screenshots and the form's margin."""
    return limits.max_total_size + FORM_MARGIN


class _Spool:
    """One request's files as werkzeug streams them: each into a file of its own in
    ``folder``, every write checked against the limits."""

    def __init__(self, limits: ScreenshotLimits, folder: Path) -> None:
        self.limits = limits
        self.folder = folder
        self.files: list[_SpoolFile] = []
        self.count = 0
        self.total = 0

    def open(self, total_content_length: int | None, content_type: str | None,
             filename: str | None, content_length: int | None = None) -> IO[bytes]:
        """werkzeug's ``stream_factory``: a new file for the part ``filename``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"upload-{secrets.token_hex(12)}.part"
        spooled = _SpoolFile(path, self, safe_filename(filename or ""))
        self.files.append(spooled)
        if filename:  # a file input left empty sends a part without a name: not counted
            spooled.counted = True
            self.add_one(spooled)
        return spooled

    def add_one(self, spooled: _SpoolFile) -> None:
        """One more file: refused past ``max_files``."""
        self.count += 1
        if self.count > self.limits.max_files:
            raise refuse_count(spooled.member_name, self.limits)

    def discard(self) -> None:
        """Close and delete every file written."""
        for spooled in self.files:
            spooled.close()
            spooled.path.unlink(missing_ok=True)
        self.files.clear()


class _SpoolFile(io.FileIO):
    """A part's file: refuses the write that takes it, or the request, over a limit."""

    def __init__(self, path: Path, spool: _Spool, member_name: str) -> None:
        super().__init__(path, "xb+")
        self.path = path
        self.spool = spool
        self.member_name = member_name
        self.size = 0
        self.counted = False

    def write(self, data: Any) -> int:
        size = len(data)
        if size and not self.counted:
            self.counted = True
            self.spool.add_one(self)
        self.size += size
        limits = self.spool.limits
        if self.size > limits.max_file_size:
            raise refuse_too_big(self.member_name, limits)
        self.spool.total += size
        if self.spool.total > limits.max_total_size:
            raise refuse_total(self.member_name, limits)
        return super().write(data)


class _Counted(io.RawIOBase):
    """The body as werkzeug reads it, refused once what is not file bytes (the text
    fields, the framing) passes the form's margin."""

    def __init__(self, stream: IO[bytes], spool: _Spool, limits: ScreenshotLimits) -> None:
        self.stream = stream
        self.spool = spool
        self.limits = limits
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # all of it (a urlencoded form): still piece by piece
            pieces = []
            while piece := self.read(READ_SIZE):
                pieces.append(piece)
            return b"".join(pieces)
        data = self.stream.read(size)
        self.read_bytes += len(data)
        # the parser reads a piece ahead of what it has written to the files
        if self.read_bytes - self.spool.total > FORM_MARGIN + 2 * READ_SIZE:
            raise refuse_total("", self.limits)
        return data


def read_upload(request: Request, limits: ScreenshotLimits, spool_dir: Path,
                field: str = "screenshots") -> tuple[MultiDict, list[tuple[Path, str]]]:
    """The form's fields, and the files of ``field`` as ``(path, member's file name made
    safe)`` in ``spool_dir``, in the order sent; file inputs left empty are left out.

    Call it before anything reads ``request.form`` (a CSRF check included): it parses the
    body itself, then gives ``request.form`` the fields it read (``request.files`` stays
    empty). Files of other fields are deleted.

    :raises Refused: ``total`` when ``Content-Length`` is over :func:`body_limit` (nothing
        read) or the files together go over; ``too_big``, ``count`` on the file that
        passes the limit. Nothing stays in ``spool_dir`` then.
    :raises werkzeug.exceptions.BadRequest: a body that is not a well-formed form.
    """
    if "form" in request.__dict__ or "files" in request.__dict__:
        raise RuntimeError("read_upload must read the body before request.form is used")
    ceiling = body_limit(limits)
    length = request.content_length
    if length is not None and length > ceiling:
        raise refuse_total("", limits)
    spool = _Spool(limits, Path(spool_dir))
    parser = FormDataParser(stream_factory=spool.open, max_form_memory_size=TEXT_PART_LIMIT,
                            max_content_length=ceiling, max_form_parts=MAX_PARTS,
                            silent=False, cls=ImmutableMultiDict)
    try:
        body = _Counted(request.stream, spool, limits)
        _rest, form, files = parser.parse(body, request.mimetype, length,  # type: ignore[arg-type] - a counting stream
                                          request.mimetype_params)
    except RequestEntityTooLarge:
        spool.discard()
        raise refuse_total("", limits) from None
    except ValueError:
        spool.discard()
        raise BadRequest("The form could not be read.") from None
    except BaseException:
        spool.discard()
        raise
    kept = _kept(files, field, spool)
    request.__dict__.update(form=form, files=ImmutableMultiDict(), stream=io.BytesIO(b""))
    return form, kept


def _kept(files: MultiDict[str, FileStorage], field: str,
          spool: _Spool) -> list[tuple[Path, str]]:
    """The files of ``field`` worth judging; every other file deleted."""
    kept: list[tuple[Path, str]] = []
    for storage in files.getlist(field):
        spooled = storage.stream
        if isinstance(spooled, _SpoolFile) and (spooled.size or storage.filename):
            kept.append((spooled.path, safe_filename(storage.filename or "")))
    paths = {path for path, _name in kept}
    for spooled in spool.files:  # other fields' files, inputs left empty
        spooled.close()
        if spooled.path not in paths:
            spooled.path.unlink(missing_ok=True)
    return kept


def discard(files: Iterable[tuple[Path, str]]) -> None:
    """Delete files :func:`read_upload` returned (a request refused before they were
    judged: a wrong CSRF token, a rate limit)."""
    for path, _name in files:
        Path(path).unlink(missing_ok=True)


__all__ = ["FORM_MARGIN", "Refused", "body_limit", "discard", "read_upload"]

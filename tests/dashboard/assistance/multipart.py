"""Building ``multipart/form-data`` bodies as a browser sends them, and a body stream that
counts what the server read of it."""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence


def multipart(fields: Sequence[tuple[str, str]] = (),
              files: Sequence[tuple[str, str, bytes]] = ()) -> tuple[bytes, str]:
    """``(body, content type)`` of a form with text ``fields`` (name, value) and ``files``
    (field, file name, bytes), in that order; file names sent in UTF-8 as browsers do."""
    boundary = "----VigieBoundary" + secrets.token_hex(8)
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode() + b"\r\n")
    for field, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class CountingStream(io.RawIOBase):
    """A request body that remembers how many of its bytes were read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._data.read(size)
        self.read_bytes += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

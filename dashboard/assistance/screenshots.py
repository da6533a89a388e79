"""Members' screenshots: decoded, checked and re-encoded before anything keeps them.

A file is judged by decoding it with Pillow, never by its name or its declared type. What
is refused, each with a message naming the file (:class:`Refused`): an empty file, a file
over the size limit, a file that is no image Pillow can read or a damaged one, an image in
a format the configuration does not accept, an image over the pixel limit, and a
decompression bomb (a small file declaring an enormous image). The pixel count is read
from the image's header and checked *before* anything is decoded, so the CPU and memory a
file costs are bounded by the limits whatever it holds; at most :data:`DECODERS` images are
decoded at once in the whole process.

What is kept is a new file: the pixels only, turned upright by their EXIF orientation,
scaled down to the configured long side, in the same format (PNG stays lossless, JPEG and
WebP at :data:`QUALITY`). Nothing of the original's metadata is written: no EXIF (GPS
position, device), no XMP, no ICC profile, no PNG text chunk, no JPEG comment. An animated
image (APNG, animated WebP) keeps its first frame: a screenshot is one picture.

:func:`accept_all` takes a request's files together: on the first refusal every file,
accepted ones included, is deleted, so nothing of a refused request stays on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import (  # the decoders used, registered without loading all of Pillow's
    BmpImagePlugin,  # noqa: F401 - registers its decoder
    GifImagePlugin,  # noqa: F401 - registers its decoder
    Image,
    ImageOps,
    JpegImagePlugin,  # noqa: F401 - registers its decoder
    PngImagePlugin,  # noqa: F401 - registers its decoder
    TiffImagePlugin,  # noqa: F401 - registers its decoder
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401 - registers its decoder
)

from monitor.assistance.request import Screenshot
from monitor.assistance.settings import MB, ScreenshotLimits
from monitor.safetext import clean_line
from monitor.words import Number, Words, _, n_

log = logging.getLogger(__name__)

#: Pillow's own guard, set once here for the whole process (never per call: it is a
#: global every thread reads): the largest ``max_pixels`` the configuration allows. Each
#: call checks its own ``max_pixels`` from the header before decoding; Pillow's check only
#: catches what no configuration could allow (twice this raises
#: :class:`PIL.Image.DecompressionBombError` in ``Image.open`` itself).
SAFETY_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = SAFETY_PIXELS

#: images decoded at once in the process: decoding holds the whole bitmap (3 or 4 bytes a
#: pixel: 12 MB for a 5 MB photo), so this bounds the memory uploads cost whatever the
#: number of members (bench/assistance_upload.py; the others wait their turn)
DECODERS = 1
_DECODING = threading.BoundedSemaphore(DECODERS)
#: re-encoding quality of the lossy formats
QUALITY = 85
#: a file declaring more than this many pixels per byte of its own size, over the pixel
#: limit, is a decompression bomb rather than a large image (deflate gives at most about
#: 1,000 bytes for one; JPEG and WebP far less)
BOMB_PIXELS_PER_BYTE = 1000
#: characters kept of a member's file name (its extension comes from the decoded format)
NAME_LIMIT = 100

#: the configuration's format names → Pillow's decoder
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
#: what a decoded image's format says → the configuration's name (Pillow's JPEG decoder
#: gives an MPO, a phone's JPEG holding extra pictures, as such)
DECODED = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp"}
#: format → (extension, media type, save options)
OUTPUT: dict[str, tuple[str, str, dict[str, Any]]] = {
    "png": ("png", "image/png", {"format": "PNG", "compress_level": 6}),
    "jpeg": ("jpg", "image/jpeg", {"format": "JPEG", "quality": QUALITY}),
    "webp": ("webp", "image/webp", {"format": "WEBP", "quality": QUALITY, "method": 4}),
}
#: formats named in a refusal ("a GIF image") when not accepted: only their headers are
#: read, never decoded
KNOWN_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
#: what each format's modes become (the modes the encoder and the desks take)
_KEPT_MODES = {"png": {"1", "L", "LA", "P", "RGB", "RGBA"}, "jpeg": {"L", "RGB"},
               "webp": {"RGB", "RGBA"}}


class Refused(Exception):
    """A screenshot (or a request's screenshots) refused.

    ``code`` is stable (``not_image``, ``format``, ``too_big``, ``total``, ``count``,
    ``bomb``, ``pixels``, ``empty``); ``filename`` is the member's file name made safe
    (empty when the refusal is about the whole request); ``words`` is the message for the
    member, in French and English, naming the file; ``status`` is the HTTP status a page
    answers with (413 when it is about size). ``str()`` gives the English message.
    """

    def __init__(self, code: str, filename: str, words: Words) -> None:
        super().__init__(words.en)
        self.code = code
        self.filename = filename
        self.words = words

    @property
    def status(self) -> int:
        """413 for a size refused, 422 for a file that is not what was asked."""
        return 413 if self.code in ("too_big", "total") else 422

    def __str__(self) -> str:
        return self.words.en


def _megabytes(size: int) -> Number:
    return Number(round(size / MB, 1))


def _formats(limits: ScreenshotLimits) -> str:
    names = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
    return ", ".join(names[f] for f in limits.formats)


def refuse_empty(name: str) -> Refused:
    """The refusal of an empty file."""
    return Refused("empty", name, _("“{file}” is empty.", file=name))


def refuse_too_big(name: str, limits: ScreenshotLimits) -> Refused:
    """The refusal of a file over ``max_file_size``."""
    return Refused("too_big", name, _("“{file}” is too large: {limit} MB at most per screenshot.",
                                      file=name, limit=_megabytes(limits.max_file_size)))


def refuse_total(name: str, limits: ScreenshotLimits) -> Refused:
    """The refusal of screenshots over ``max_total_size`` together (``name``: the file
    that went over, or empty when the request said so before any was read)."""
    limit = _megabytes(limits.max_total_size)
    if not name:
        return Refused("total", "", _(
            "The request is too large: the screenshots may weigh {limit} MB at most in all.",
            limit=limit))
    return Refused("total", name, _(
        "The screenshots are too large together: {limit} MB at most in all (“{file}” goes "
        "over).", file=name, limit=limit))


def refuse_count(name: str, limits: ScreenshotLimits) -> Refused:
    """The refusal of a file past ``max_files``."""
    n = limits.max_files
    return Refused("count", name, n_(
        "“{file}” is one file too many: {n} screenshot at most per request.",
        "“{file}” is one file too many: {n} screenshots at most per request.", n, file=name))


def _refuse_not_image(name: str, limits: ScreenshotLimits) -> Refused:
    return Refused("not_image", name, _(
        "“{file}” is not an image that can be read ({formats}), or it is damaged.",
        file=name, formats=_formats(limits)))


def _refuse_format(name: str, found: str, limits: ScreenshotLimits) -> Refused:
    return Refused("format", name, _(
        "“{file}” is a {format} image; only {formats} images are accepted.",
        file=name, format=found, formats=_formats(limits)))


def _refuse_bomb(name: str) -> Refused:
    return Refused("bomb", name, _(
        "“{file}” declares an image far larger than its file (a decompression bomb): it is "
        "refused.", file=name))


def _refuse_pixels(name: str, width: int, height: int, limits: ScreenshotLimits) -> Refused:
    return Refused("pixels", name, _(
        "“{file}” is too large an image: {width} × {height} pixels, {limit} million pixels "
        "at most.", file=name, width=width, height=height,
        limit=Number(limits.max_pixels / 1_000_000)))


_UNSAFE_NAME = re.compile(r'[<>:"/\\|?*;]+')
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def safe_filename(filename: str, extension: str = "") -> str:
    """A member's file name fit to show and to attach: one line of safe text, no folder,
    no character a file system or a header refuses, at most :data:`NAME_LIMIT`
    characters; ``extension`` (without the dot) replaces the name's own."""
    name = clean_line(filename, NAME_LIMIT * 2)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" ._")
    if extension:
        name = _EXTENSION.sub("", name).strip(" ._")
    name = clean_line(name, NAME_LIMIT - len(extension) - 1) or "capture"
    return f"{name}.{extension}" if extension else name


@dataclass(frozen=True, slots=True)
class _Kept:
    path: Path
    fmt: str


def accept(source: Path, filename: str, limits: ScreenshotLimits, dest_dir: Path) -> Screenshot:
    """Check the image in ``source`` and write its re-encoded copy into ``dest_dir``.

    ``filename`` is the member's file name (made safe here). ``source`` is deleted
    whether the image is accepted or not.

    :raises Refused: the file is not an accepted image, or is over a limit.
    """
    name = safe_filename(filename)
    try:
        kept = _reencode(Path(source), name, limits, Path(dest_dir))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(source)
    try:
        digest, size = hashlib.sha256(), 0
        with open(kept.path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
    except BaseException:
        kept.path.unlink(missing_ok=True)
        raise
    extension, media_type, _options = OUTPUT[kept.fmt]
    return Screenshot(filename=safe_filename(name, extension), path=str(kept.path),
                      media_type=media_type, size=size, sha256=digest.hexdigest())


def accept_all(files: Sequence[tuple[Path, str]], limits: ScreenshotLimits,
               dest_dir: Path) -> list[Screenshot]:
    """Accept a request's screenshots, all or none: the count and the total size are
    checked first, then each file by :func:`accept`. On a refusal every file is deleted,
    the sources and the copies already made.

    :raises Refused: the first refusal.
    """
    accepted: list[Screenshot] = []
    try:
        if len(files) > limits.max_files:
            raise refuse_count(safe_filename(files[limits.max_files][1]), limits)
        total = 0
        for source, filename in files:
            size = Path(source).stat().st_size
            if size > limits.max_file_size:
                raise refuse_too_big(safe_filename(filename), limits)
            total += size
            if total > limits.max_total_size:
                raise refuse_total(safe_filename(filename), limits)
        for source, filename in files:
            accepted.append(accept(Path(source), filename, limits, dest_dir))
    except BaseException:
        for shot in accepted:
            Path(shot.path).unlink(missing_ok=True)
        for source, _filename in files:
            Path(source).unlink(missing_ok=True)
        raise
    return accepted


def _reencode(source: Path, name: str, limits: ScreenshotLimits, dest_dir: Path) -> _Kept:
    size = source.stat().st_size
    if size == 0:
        raise refuse_empty(name)
    if size > limits.max_file_size:
        raise refuse_too_big(name, limits)
    allowed = [PILLOW_FORMATS[f] for f in limits.formats]
    try:
        image = Image.open(source, formats=allowed)
    except Image.DecompressionBombError:
        raise _refuse_bomb(name) from None
    except UnidentifiedImageError:
        raise _unaccepted(source, name, limits) from None
    except Exception as exc:  # noqa: BLE001 (any decoder error: the file is damaged)
        log.debug("screenshot %r not opened: %s", name, exc)
        raise _refuse_not_image(name, limits) from None
    with image:
        fmt = DECODED[image.format or ""]
        width, height = image.size
        pixels = width * height
        if pixels == 0:
            raise _refuse_not_image(name, limits)
        if pixels > limits.max_pixels:
            if pixels > BOMB_PIXELS_PER_BYTE * size:
                raise _refuse_bomb(name)
            raise _refuse_pixels(name, width, height, limits)
        with _DECODING:  # the header was within the limits: now the pixels
            try:
                out = _pixels(image, fmt, limits)
            except Image.DecompressionBombError:
                raise _refuse_bomb(name) from None
            except Exception as exc:  # noqa: BLE001 (truncated, corrupt: damaged)
                log.debug("screenshot %r not decoded: %s", name, exc)
                raise _refuse_not_image(name, limits) from None
            return _write(out, fmt, dest_dir)  # a disk error is no member's fault: raised


def _unaccepted(source: Path, name: str, limits: ScreenshotLimits) -> Refused:
    """The refusal of a file no accepted decoder recognised: another image format (its
    header read to name it, nothing decoded), or no image at all."""
    others = [f for f in KNOWN_FORMATS if DECODED.get(f) not in limits.formats]
    try:
        with Image.open(source, formats=others) as other:
            found = other.format or ""
    except Exception:  # noqa: BLE001 (not an image)
        return _refuse_not_image(name, limits)
    known = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
    return _refuse_format(name, known.get(found.lower(), found), limits)


def _pixels(image: Image.Image, fmt: str, limits: ScreenshotLimits) -> Image.Image:
    """The first frame's pixels, decoded, upright, scaled down, in a mode ``fmt`` takes;
    its ``info`` (where Pillow keeps metadata) emptied."""
    long_side = limits.long_side
    width, height = image.size
    if max(width, height) > long_side and fmt == "jpeg":
        # JPEG decodes straight to a smaller size (1/2, 1/4, 1/8): less memory and CPU
        ratio = long_side / max(width, height)
        image.draft(None, (max(1, round(width * ratio)), max(1, round(height * ratio))))
    image.load()  # the first frame only: the one an animated image opens on
    transparency = image.info.get("transparency")
    ImageOps.exif_transpose(image, in_place=True)
    out = image
    if max(out.size) > long_side:
        if out.mode in ("P", "1", "PA"):
            out = out.convert("RGBA" if transparency is not None or out.mode == "PA"
                              else "RGB" if out.mode == "P" else "L")
            transparency = None
        out.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    kept = _KEPT_MODES[fmt]
    if out.mode not in kept:
        if fmt == "png" and out.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            out = out.convert("L")  # 16-bit grey: 8 bits are enough for a screenshot
        else:
            alpha = "A" in out.mode or transparency is not None
            out = out.convert("RGBA" if alpha and "RGBA" in kept else "RGB")
        transparency = None
    out.info = {}
    if fmt == "png" and transparency is not None and out.mode in ("P", "L", "RGB", "1"):
        out.info["transparency"] = transparency  # tRNS is pixels, not metadata
    return out


def _write(image: Image.Image, fmt: str, dest_dir: Path) -> _Kept:
    extension, _media_type, options = OUTPUT[fmt]
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{secrets.token_hex(12)}.{extension}"
    try:
        with open(path, "xb") as handle:
            # no exif=, icc_profile=, xmp=, pnginfo=, comment=: none is written
            image.save(handle, **options)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return _Kept(path, fmt)

"""Real image files for the screenshot tests, made with Pillow: with the metadata a phone
or a desktop puts in them (EXIF with GPS, XMP, ICC profile, text chunks, comments), in
every mode a screenshot may have, animated, truncated, and hostile (a decompression bomb
declaring far more pixels than it holds)."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import ExifTags, Image, ImageCms, PngImagePlugin

#: markers planted in the metadata, searched for in the re-encoded bytes
MAKE = "VigieTestCam"
XMP_MARKER = "vigie-xmp-marker-48.8582N"
COMMENT = b"vigie-secret-comment"
TEXT_MARKER = "vigie-png-text-marker"
XMP = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
       f'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Label="{XMP_MARKER}"/>'
       f'</rdf:RDF></x:xmpmeta>')
#: what must never be found in a re-encoded file
LEAKS = (b"Exif\x00\x00", MAKE.encode(), XMP_MARKER.encode(), b"http://ns.adobe.com/xap",
         COMMENT, TEXT_MARKER.encode(), b"iCCP", b"tEXt", b"iTXt", b"zTXt", b"eXIf",
         b"ICC_PROFILE", b"ICCP", b"EXIF", b"XMP ")


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: device, orientation, and where the picture was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = "Phone 7"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.6)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.2)
    return exif


def icc() -> bytes:
    """An sRGB ICC profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def picture(size: tuple[int, int] = (320, 200), mode: str = "RGB") -> Image.Image:
    """A screenshot-like picture: flat colours, a red block in the top-left corner."""
    image = Image.new("RGB", size, (240, 240, 240))
    image.paste((220, 20, 20), (0, 0, size[0] // 4, size[1] // 4))
    image.paste((20, 20, 200), (size[0] // 2, size[1] // 2, size[0], size[1]))
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (320, 200), orientation: int = 1) -> bytes:
    """A JPEG carrying EXIF (GPS, device, orientation), XMP, an ICC profile and a comment."""
    return encode(picture(size), "JPEG", exif=exif_with_gps(orientation), xmp=XMP.encode(),
                  icc_profile=icc(), comment=COMMENT, quality=90)


def png_with_metadata(size: tuple[int, int] = (320, 200), mode: str = "RGB") -> bytes:
    """A PNG carrying EXIF, XMP, an ICC profile and text chunks."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", TEXT_MARKER)
    info.add_itxt("XML:com.adobe.xmp", XMP)
    info.add_text("Software", TEXT_MARKER, zip=True)
    image = picture(size, mode)
    options = {"icc_profile": icc()} if mode in ("RGB", "RGBA") else {}
    return encode(image, "PNG", pnginfo=info, exif=exif_with_gps(), **options)


def webp_with_metadata(size: tuple[int, int] = (320, 200)) -> bytes:
    """A WebP carrying EXIF, XMP and an ICC profile."""
    return encode(picture(size), "WEBP", exif=exif_with_gps(), xmp=XMP.encode(),
                  icc_profile=icc(), quality=90)


def noise(size: tuple[int, int], fmt: str = "PNG", **options) -> bytes:
    """An image of random pixels (it does not compress: its file is about 3 bytes a
    pixel as PNG)."""
    width, height = size
    image = Image.frombytes("RGB", size, os.urandom(width * height * 3))
    if fmt == "PNG":
        options.setdefault("compress_level", 0)
    return encode(image, fmt, **options)


def noise_png_of(size_bytes: int) -> bytes:
    """A real noise PNG of about ``size_bytes`` (within 1 %)."""
    side = int((size_bytes / 3) ** 0.5)
    return noise((side, side))


def declaring(png: bytes, width: int, height: int) -> bytes:
    """``png`` with its header claiming ``width`` × ``height`` pixels (CRC kept right):
    a decompression bomb's shape, a few bytes declaring an enormous image."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return png[:16] + ihdr + crc + png[33:]


def animated(fmt: str) -> bytes:
    """Three frames, red then green then blue (APNG or animated WebP)."""
    frames = [Image.new("RGB", (64, 48), colour)
              for colour in ((230, 0, 0), (0, 230, 0), (0, 0, 230))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  loop=0, **({"lossless": True} if fmt == "WEBP" else {}))


def pdf() -> bytes:
    """A small PDF (what a member might name ``capture.png``)."""
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n"
            b"%%EOF\n")

"""Members' screenshots, judged by decoding them (dashboard.assistance.screenshots): real
images made with Pillow go in; what comes out has no metadata left, and every refusal
names the file in French and English and leaves nothing on disk."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from dashboard.assistance import screenshots
from dashboard.assistance.screenshots import Refused, accept, accept_all, safe_filename
from monitor.assistance.settings import MB, ScreenshotLimits
from tests.dashboard.assistance import images

LIMITS = ScreenshotLimits()


@pytest.fixture
def dirs(tmp_path):
    """``(spool, dest)``: where uploads wait and where accepted screenshots go."""
    spool, dest = tmp_path / "spool", tmp_path / "dest"
    spool.mkdir()
    dest.mkdir()
    return spool, dest


def put(folder: Path, data: bytes, name: str = "upload.part") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def assert_clean(data: bytes) -> None:
    """Nothing of the original's metadata in a re-encoded file."""
    for leak in images.LEAKS:
        assert leak not in data, leak
    image = Image.open(io.BytesIO(data))
    assert len(image.getexif()) == 0
    assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "Comment",
                "Software"} & set(image.info)
    assert not getattr(image, "text", {})


def refused(source: Path, name: str, dirs, limits: ScreenshotLimits = LIMITS) -> Refused:
    """The refusal of ``source``; nothing left in either folder."""
    spool, dest = dirs
    with pytest.raises(Refused) as caught:
        accept(source, name, limits, dest)
    assert list(spool.iterdir()) == [] and list(dest.iterdir()) == []
    return caught.value


def assert_named(refusal: Refused, name: str) -> None:
    """The message names the file in both languages, French translated."""
    assert refusal.filename == name
    assert name in refusal.words.fr and name in refusal.words.en
    assert refusal.words.fr != refusal.words.en
    assert str(refusal) == refusal.words.en


# Accepted, and cleaned ------------------------------------------------------------------


def test_a_jpeg_with_gps_comes_out_without_any_metadata(dirs):
    spool, dest = dirs
    original = images.jpeg_with_gps()
    assert images.MAKE.encode() in original and b"Exif" in original  # the test's premise
    shot = accept(put(spool, original), "IMG_2041.JPG", LIMITS, dest)
    data = Path(shot.path).read_bytes()
    assert_clean(data)
    assert Image.open(shot.path).format == "JPEG"
    assert (shot.filename, shot.media_type) == ("IMG_2041.jpg", "image/jpeg")
    assert shot.size == len(data) and shot.sha256 == hashlib.sha256(data).hexdigest()
    assert shot.read() == data
    assert list(spool.iterdir()) == [] and [p.name for p in dest.iterdir()] == [
        Path(shot.path).name]


@pytest.mark.parametrize("make, fmt, media", [
    (images.png_with_metadata, "PNG", "image/png"),
    (images.webp_with_metadata, "WEBP", "image/webp"),
])
def test_png_and_webp_keep_their_format_and_lose_their_metadata(dirs, make, fmt, media):
    spool, dest = dirs
    original = make()
    assert images.XMP_MARKER.encode() in original
    shot = accept(put(spool, original), "écran.bin", LIMITS, dest)
    assert_clean(Path(shot.path).read_bytes())
    with Image.open(shot.path) as image:
        assert image.format == fmt and image.size == (320, 200)
    assert shot.media_type == media and shot.filename == f"écran.{fmt.lower()}"


def test_the_exif_orientation_is_applied_before_it_is_dropped(dirs):
    """A phone's picture stored sideways with orientation 6 (turn 90° clockwise to view):
    the copy is upright, its red corner where the viewer saw it."""
    spool, dest = dirs
    shot = accept(put(spool, images.jpeg_with_gps((320, 200), orientation=6)), "p.jpg",
                  LIMITS, dest)
    with Image.open(shot.path) as image:
        assert image.size == (200, 320)
        red, green, blue = image.convert("RGB").getpixel((190, 10))
        assert red > 180 and green < 80 and blue < 80  # top-left went to top-right
    assert_clean(Path(shot.path).read_bytes())


@pytest.mark.parametrize("mode, expected", [
    ("RGBA", "RGBA"), ("LA", "LA"), ("L", "L"), ("P", "P"), ("1", "1"), ("I;16", "L"),
])
def test_png_modes_are_kept_or_made_plain(dirs, mode, expected):
    spool, dest = dirs
    image = images.picture((64, 48), "RGBA" if mode == "RGBA" else "RGB")
    image = image.convert(mode) if mode != "RGBA" else image
    if mode == "RGBA":
        image.putpixel((0, 0), (1, 2, 3, 0))
    shot = accept(put(spool, images.encode(image, "PNG")), "m.png", LIMITS, dest)
    with Image.open(shot.path) as out:
        assert out.mode == expected
        if mode == "RGBA":
            assert out.getpixel((0, 0))[3] == 0  # transparency is pixels: kept


def test_a_palette_png_keeps_its_transparent_colour(dirs):
    spool, dest = dirs
    image = images.picture((64, 48)).convert("P")
    image.info["transparency"] = image.getpixel((63, 0))
    shot = accept(put(spool, images.encode(image, "PNG", transparency=image.getpixel((63, 0)))),
                  "p.png", LIMITS, dest)
    with Image.open(shot.path) as out:
        assert out.mode == "P" and out.info.get("transparency") is not None
        assert out.convert("RGBA").getpixel((63, 0))[3] == 0


def test_a_cmyk_jpeg_becomes_rgb(dirs):
    spool, dest = dirs
    data = images.encode(images.picture((64, 48), "CMYK"), "JPEG")
    shot = accept(put(spool, data), "print.jpg", LIMITS, dest)
    with Image.open(shot.path) as out:
        assert (out.format, out.mode) == ("JPEG", "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animated_image_keeps_its_first_frame(dirs, fmt):
    """A screenshot is one picture: an APNG or an animated WebP keeps the frame it opens
    on (documented in the module)."""
    spool, dest = dirs
    shot = accept(put(spool, images.animated(fmt)), "anim", LIMITS, dest)
    with Image.open(shot.path) as out:
        assert getattr(out, "n_frames", 1) == 1
        red, green, blue = out.convert("RGB").getpixel((10, 10))
        assert red > 180 and green < 60 and blue < 60


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_the_long_side_is_capped(dirs, fmt):
    """A JPEG is decoded straight at a smaller scale (draft), a PNG resized: either way
    the copy's long side is the limit, proportions kept."""
    spool, dest = dirs
    limits = ScreenshotLimits(long_side=800)
    shot = accept(put(spool, images.encode(images.picture((3200, 1200)), fmt)), "wide",
                  limits, dest)
    with Image.open(shot.path) as out:
        assert out.size == (800, 300)


def test_the_members_file_name_is_made_safe_and_given_the_real_extension(dirs):
    spool, dest = dirs
    shot = accept(put(spool, images.jpeg_with_gps()), "../../etc/pass\u202ewd\x00.png",
                  LIMITS, dest)
    assert shot.filename == "pass wd.jpg"  # a JPEG named .png: named .jpg
    assert safe_filename("") == "capture" and safe_filename('a"b;c.png', "png") == "a_b_c.png"
    assert len(safe_filename("x" * 1000, "webp")) <= screenshots.NAME_LIMIT


# Refused, nothing kept ---------------------------------------------------------------


def test_a_pdf_named_png_is_refused(dirs):
    spool, _dest = dirs
    refusal = refused(put(spool, images.pdf()), "capture.png", dirs)
    assert refusal.code == "not_image" and refusal.status == 422
    assert_named(refusal, "capture.png")
    assert "n'est pas une image lisible" in refusal.words.fr


def test_another_image_format_is_refused_by_its_name(dirs):
    spool, _dest = dirs
    gif = images.encode(images.picture((32, 32)), "GIF")
    refusal = refused(put(spool, gif), "anim.png", dirs)
    assert refusal.code == "format" and "GIF" in refusal.words.en
    assert_named(refusal, "anim.png")
    webp_off = ScreenshotLimits(formats=["png", "jpeg"])
    refusal = refused(put(spool, images.webp_with_metadata()), "w.webp", dirs, webp_off)
    assert refusal.code == "format" and "WebP" in refusal.words.fr
    assert "PNG, JPEG" in refusal.words.fr


def test_a_decompression_bomb_is_refused_before_anything_is_decoded(dirs):
    """A PNG of a few dozen bytes declaring 100,000 × 100,000 pixels (Pillow's own guard
    fires) or 12,000 × 12,000 (under it: Vigie's header check catches it)."""
    spool, _dest = dirs
    tiny = images.encode(Image.new("1", (8, 8)), "PNG")
    for width in (100_000, 12_000):
        bomb = images.declaring(tiny, width, width)
        assert len(bomb) < 200
        refusal = refused(put(spool, bomb), "bomb.png", dirs)
        assert refusal.code == "bomb", width
        assert_named(refusal, "bomb.png")
        assert "bombe de décompression" in refusal.words.fr


def test_an_image_over_the_pixel_limit_is_refused(dirs):
    spool, _dest = dirs
    limits = ScreenshotLimits(max_pixels=10_000)
    refusal = refused(put(spool, images.noise((200, 100))), "big.png", dirs, limits)
    assert refusal.code == "pixels"
    assert_named(refusal, "big.png")
    assert "200 × 100" in refusal.words.en and "0,01 million" in refusal.words.fr


def test_a_file_over_the_size_limit_is_refused_without_being_decoded(dirs):
    """A real 20 MB PNG against the default 5 MB."""
    spool, _dest = dirs
    data = images.noise_png_of(20 * 1000 * 1000)
    assert len(data) > 19 * MB
    refusal = refused(put(spool, data), "énorme.png", dirs)
    assert refusal.code == "too_big" and refusal.status == 413
    assert_named(refusal, "énorme.png")
    assert "5 Mo au plus" in refusal.words.fr and "5 MB at most" in refusal.words.en


def test_an_empty_file_is_refused(dirs):
    spool, _dest = dirs
    refusal = refused(put(spool, b""), "vide.png", dirs)
    assert refusal.code == "empty"
    assert_named(refusal, "vide.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_truncated_image_is_refused_as_damaged(dirs, fmt):
    spool, _dest = dirs
    data = images.noise((200, 150), fmt) if fmt != "WEBP" else images.noise((200, 150), fmt,
                                                                              quality=95)
    refusal = refused(put(spool, data[: len(data) // 2]), "cut.img", dirs)
    assert refusal.code == "not_image"
    assert_named(refusal, "cut.img")


# A request's screenshots together -------------------------------------------------------


def several(spool: Path, count: int, make=lambda i: images.png_with_metadata((40 + i, 30))):
    return [(put(spool, make(i), f"u{i}.part"), f"capture-{i}.png") for i in range(count)]


def test_five_screenshots_are_accepted_together(dirs):
    spool, dest = dirs
    shots = accept_all(several(spool, 5), LIMITS, dest)
    assert [s.filename for s in shots] == [f"capture-{i}.png" for i in range(5)]
    assert list(spool.iterdir()) == [] and len(list(dest.iterdir())) == 5
    for shot in shots:
        assert_clean(shot.read())


def test_a_sixth_file_refuses_the_request_and_nothing_is_kept(dirs):
    spool, dest = dirs
    with pytest.raises(Refused) as caught:
        accept_all(several(spool, 6), LIMITS, dest)
    assert caught.value.code == "count"
    assert_named(caught.value, "capture-5.png")
    assert "5 captures d'écran au plus" in caught.value.words.fr
    assert list(spool.iterdir()) == [] and list(dest.iterdir()) == []


def test_files_over_the_total_size_refuse_the_request(dirs):
    spool, dest = dirs
    limits = ScreenshotLimits(max_file_size=64 * 1024, max_total_size=150 * 1024)
    files = several(spool, 3, lambda i: images.noise((140, 140)))  # about 59 KB each
    with pytest.raises(Refused) as caught:
        accept_all(files, limits, dest)
    assert caught.value.code == "total" and caught.value.status == 413
    assert_named(caught.value, "capture-2.png")
    assert list(spool.iterdir()) == [] and list(dest.iterdir()) == []


def test_a_bad_file_after_good_ones_deletes_the_good_ones_too(dirs):
    spool, dest = dirs
    files = several(spool, 2) + [(put(spool, images.pdf(), "pdf.part"), "facture.png")]
    with pytest.raises(Refused) as caught:
        accept_all(files, LIMITS, dest)
    assert (caught.value.code, caught.value.filename) == ("not_image", "facture.png")
    assert list(spool.iterdir()) == [] and list(dest.iterdir()) == []


def test_no_screenshots_is_an_empty_list(dirs):
    assert accept_all([], LIMITS, dirs[1]) == []


# Pillow's global guard -----------------------------------------------------------------


def test_pillows_guard_is_set_once_to_what_no_configuration_exceeds(dirs):
    """Each call checks its own limit from the header; the process-wide
    ``MAX_IMAGE_PIXELS`` is the configuration's ceiling, never changed per call (threads
    with different limits judge the same image each by its own)."""
    ceiling = next(m.le for m in ScreenshotLimits.model_fields["max_pixels"].metadata
                   if getattr(m, "le", None) is not None)
    assert Image.MAX_IMAGE_PIXELS == screenshots.SAFETY_PIXELS == ceiling
    spool, dest = dirs
    data = images.noise((200, 100))
    results: dict[str, str] = {}
    start = threading.Barrier(8)

    def judge(i: int) -> None:
        limits = ScreenshotLimits(max_pixels=10_000 if i % 2 else 40_000)
        source = put(spool, data, f"t{i}.part")
        start.wait()
        try:
            accept(source, f"t{i}.png", limits, dest)
            results[f"t{i}"] = "accepted"
        except Refused as refusal:
            results[f"t{i}"] = refusal.code

    threads = [threading.Thread(target=judge, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {f"t{i}": "pixels" if i % 2 else "accepted" for i in range(8)}
    assert ceiling == Image.MAX_IMAGE_PIXELS

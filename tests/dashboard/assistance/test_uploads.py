"""Reading the request form with its screenshots (dashboard.assistance.uploads): sizes
checked before reading and while streaming, each file straight to the spool folder,
nothing left there after a refusal."""

from __future__ import annotations

import pytest
from flask import Flask, request
from werkzeug.exceptions import BadRequest

from dashboard.assistance.screenshots import Refused, accept_all
from dashboard.assistance.uploads import (
    FORM_MARGIN,
    READ_SIZE,
    TEXT_PART_LIMIT,
    body_limit,
    discard,
    read_upload,
)
from monitor.assistance.settings import MB, ScreenshotLimits
from monitor.config import DEFAULT_PATHS
from tests.dashboard.assistance import images
from tests.dashboard.assistance.multipart import CountingStream, multipart

LIMITS = ScreenshotLimits()
APP = Flask(__name__)
#: what the parser may read past the byte that broke a limit (it reads a piece ahead of
#: what it has written)
SLACK = 3 * READ_SIZE


def posted(body: bytes, content_type: str, *, length: bool = True):
    """A request context for ``POST /assistance/envoyer`` with ``body`` (its stream
    counts what was read); ``length=False`` sends no Content-Length (chunked)."""
    stream = CountingStream(body)
    context = APP.test_request_context("/assistance/envoyer", method="POST")
    environ = context.request.environ
    environ["wsgi.input"], environ["CONTENT_TYPE"] = stream, content_type
    if length:
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    return context, stream


def test_the_fields_and_the_files_are_read_each_file_to_the_spool(tmp_path):
    spool = tmp_path / "spool"
    jpeg, png = images.jpeg_with_gps(), images.png_with_metadata()
    body, kind = multipart(
        [("csrf_token", "t0k"), ("title", "Ma boîte ne reçoit plus"), ("website", "")],
        [("screenshots", "écran 1.jpg", jpeg), ("screenshots", "../b.png", png),
         ("screenshots", "", b""),  # a file input left empty
         ("other", "x.bin", b"not a screenshot")])
    context, _stream = posted(body, kind)
    with context:
        form, files = read_upload(request, LIMITS, spool)
        assert request.form is form and not request.files  # a CSRF check reads these
        assert form["title"] == "Ma boîte ne reçoit plus" and form["website"] == ""
        assert [name for _path, name in files] == ["écran 1.jpg", "b.png"]
        assert [path.read_bytes() for path, _name in files] == [jpeg, png]
        assert sorted(spool.iterdir()) == sorted(path for path, _name in files)
        shots = accept_all(files, LIMITS, tmp_path / "dest")
    assert [s.filename for s in shots] == ["écran 1.jpg", "b.png"]
    assert list(spool.iterdir()) == []


def test_a_named_empty_file_is_kept_to_be_refused_as_empty(tmp_path):
    spool = tmp_path / "spool"
    body, kind = multipart([], [("screenshots", "vide.png", b"")])
    context, _stream = posted(body, kind)
    with context:
        _form, files = read_upload(request, LIMITS, spool)
    assert [name for _path, name in files] == ["vide.png"]
    with pytest.raises(Refused) as caught:
        accept_all(files, LIMITS, tmp_path / "dest")
    assert caught.value.code == "empty" and "vide.png" in caught.value.words.fr
    assert list(spool.iterdir()) == [] and not (tmp_path / "dest").exists()


def test_a_body_announced_over_the_limit_is_refused_before_a_byte_is_read(tmp_path):
    """20 MB announced: refused with a person's message, nothing read, nothing written."""
    spool = tmp_path / "spool"
    body, kind = multipart([("title", "x")], [("screenshots", "énorme.png",
                                               images.noise_png_of(20 * 1000 * 1000))])
    assert len(body) > body_limit(LIMITS)
    context, stream = posted(body, kind)
    with context, pytest.raises(Refused) as caught:
        read_upload(request, LIMITS, spool)
    assert stream.read_bytes == 0
    refusal = caught.value
    assert (refusal.code, refusal.filename, refusal.status) == ("total", "", 413)
    assert "15 Mo au plus en tout" in refusal.words.fr
    assert "15 MB at most in all" in refusal.words.en
    assert not spool.exists() or list(spool.iterdir()) == []


def test_the_listeners_default_lets_the_form_through_and_no_more():
    assert DEFAULT_PATHS["/assistance"].max_body == body_limit(LIMITS) == 16 * MB
    assert DEFAULT_PATHS["/assistance"].spool


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_a_file_over_its_limit_stops_the_reading_as_soon_as_it_passes(tmp_path, length):
    """A 9 MB screenshot (the request fits in 16 MB): the parse stops at the 5 MB mark,
    not at the end, and what was written is deleted."""
    spool = tmp_path / "spool"
    big = images.noise_png_of(9 * 1000 * 1000)
    body, kind = multipart([("title", "x")], [("screenshots", "photo.png", big)])
    context, stream = posted(body, kind, length=length)
    with context, pytest.raises(Refused) as caught:
        read_upload(request, LIMITS, spool)
    assert (caught.value.code, caught.value.filename) == ("too_big", "photo.png")
    assert "photo.png" in caught.value.words.fr and "photo.png" in caught.value.words.en
    assert stream.read_bytes <= LIMITS.max_file_size + SLACK < len(body)
    assert list(spool.iterdir()) == []


def test_files_over_the_total_stop_the_reading_on_the_file_that_passes(tmp_path):
    spool = tmp_path / "spool"
    limits = ScreenshotLimits(max_file_size=400 * 1024, max_total_size=1000 * 1024)
    files = [("screenshots", f"c{i}.png", images.noise((360, 360))) for i in range(4)]
    body, kind = multipart([("title", "x")], files)
    context, stream = posted(body, kind)
    with context, pytest.raises(Refused) as caught:
        read_upload(request, limits, spool)
    assert (caught.value.code, caught.value.filename) == ("total", "c2.png")
    assert "c2.png" in caught.value.words.fr
    assert stream.read_bytes <= limits.max_total_size + SLACK < len(body)
    assert list(spool.iterdir()) == []


def test_a_sixth_file_stops_the_reading_where_it_starts(tmp_path):
    spool = tmp_path / "spool"
    small = images.png_with_metadata((40, 30))
    big = images.noise((600, 600))  # the sixth: its bytes are never needed
    files = [("screenshots", f"c{i}.png", small) for i in range(5)]
    body, kind = multipart([], [*files, ("screenshots", "sixième.png", big)])
    context, stream = posted(body, kind)
    with context, pytest.raises(Refused) as caught:
        read_upload(request, LIMITS, spool)
    assert (caught.value.code, caught.value.filename) == ("count", "sixième.png")
    assert "sixième.png" in caught.value.words.fr
    assert stream.read_bytes < len(body) - len(big) + SLACK
    assert list(spool.iterdir()) == []


def test_text_fields_are_bounded_too(tmp_path):
    """One field over its limit, or many fields over the form's margin together: refused,
    whatever the screenshots."""
    spool = tmp_path / "spool"
    body, kind = multipart([("description", "x" * (TEXT_PART_LIMIT + 1))])
    context, _stream = posted(body, kind)
    with context, pytest.raises(Refused) as caught:
        read_upload(request, LIMITS, spool)
    assert caught.value.code == "total"
    many = [(f"f{i}", "é" * (TEXT_PART_LIMIT // 2 - 100)) for i in range(4)]  # 2 MB
    body, kind = multipart(many)
    assert len(body) < body_limit(LIMITS)
    context, stream = posted(body, kind)
    with context, pytest.raises(Refused) as caught:
        read_upload(request, LIMITS, spool)
    assert caught.value.code == "total"
    assert stream.read_bytes <= FORM_MARGIN + SLACK < len(body)


def test_a_malformed_body_is_a_bad_request_and_leaves_nothing(tmp_path):
    spool = tmp_path / "spool"
    body, kind = multipart([("title", "x")], [("screenshots", "a.png", images.noise((64, 64)))])
    context, _stream = posted(body[: len(body) // 2], kind)
    with context, pytest.raises(BadRequest):
        read_upload(request, LIMITS, spool)
    assert list(spool.iterdir()) == []


def test_an_urlencoded_form_has_no_files(tmp_path):
    body = b"title=Bonjour&csrf_token=t"
    context, _stream = posted(body, "application/x-www-form-urlencoded")
    with context:
        form, files = read_upload(request, LIMITS, tmp_path / "spool")
    assert form["title"] == "Bonjour" and files == []


def test_the_body_must_not_have_been_parsed_before(tmp_path):
    body, kind = multipart([("title", "x")])
    context, _stream = posted(body, kind)
    with context:
        assert request.form["title"] == "x"
        with pytest.raises(RuntimeError):
            read_upload(request, LIMITS, tmp_path / "spool")


def test_discard_deletes_what_was_not_judged(tmp_path):
    body, kind = multipart([], [("screenshots", "a.png", images.noise((32, 32)))])
    context, _stream = posted(body, kind)
    with context:
        _form, files = read_upload(request, LIMITS, tmp_path / "spool")
    discard(files)
    discard(files)  # twice is fine
    assert list((tmp_path / "spool").iterdir()) == []

"""What a desk receives for a member's request, as text: the note in one language, the
address checked, the file names made safe."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.assistance.request import Suggestion
from tests.language import assert_in_language
from tests.tickets_bridge.assistance import make_request
from tickets_bridge import request_text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_note_for_volunteers_speaks_one_language(lang, tmp_path):
    # data that is no language's (names, codes) so only Vigie's own words are judged
    request = make_request(tmp_path, service_name="Nextcloud", failing_reasons=("HTTP 503",),
                           user_agent="Firefox/128.0",
                           suggestions=(Suggestion("guide", "Nextcloud", "https://d.example/1",
                                                   opened=True),
                                        Suggestion("forum", "Nextcloud", "https://f.example/2")))
    who = request_text.member(request)
    for text in (request_text.volunteers_note(request, who, ["b.png"], lang=lang),
                 request_text.combined_text(dataclasses.replace(request, description="Nextcloud"),
                                            request_text.member(dataclasses.replace(
                                                request, description="Nextcloud")), [], lang=lang)):
        assert_in_language(text, lang, "request note")


@pytest.mark.parametrize("address, valid", [
    ("camille@exemple.org", "camille@exemple.org"),
    ("  c.martin+aide@sous.exemple.coop ", "c.martin+aide@sous.exemple.coop"),
    ("camille@exémple.fr", "camille@xn--exmple-cva.fr"),
    ("camille@exemple", None), ("@exemple.org", None), ("camille@", None),
    (".camille@exemple.org", None), ("ca..mille@exemple.org", None),
    ("camille@-exemple.org", None), ("a@b.org\nBcc: x@y.org", None),
    ("Camille <camille@exemple.org>", None), ("c@a@exemple.org", None),
    ("x" * 65 + "@exemple.org", None), ("c@" + "a" * 250 + ".org", None),
])
def test_an_address_is_one_plain_mailbox(address, valid):
    assert request_text.valid_email(address) == valid


def test_file_names_are_made_safe_and_end_as_their_type(tmp_path):
    request = make_request(tmp_path)
    png, jpeg = request.screenshots
    shots = (dataclasses.replace(png, filename="../../etc/pass\u202ewd"),
             dataclasses.replace(jpeg, filename="  "),
             dataclasses.replace(png, filename="Capture.PNG"),
             dataclasses.replace(jpeg, filename="photo.jpeg", media_type="text/html"))
    files, missing = request_text.attachments(dataclasses.replace(request, screenshots=shots))
    assert [(f.filename, f.media_type) for f in files] == [
        ("_.._etc_pass wd.png", "image/png"), ("capture-2.jpg", "image/jpeg"),
        ("Capture.PNG", "image/png"), ("photo.jpeg", "application/octet-stream")]
    assert not missing

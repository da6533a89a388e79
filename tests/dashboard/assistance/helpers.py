"""What the assistance page tests share: the configuration (the seeded status page with
``assistance:`` enabled), a real plugin answering ``vigie_assistance_suggestions``, the
forms of a page read back as a browser would post them, and real screenshots."""

from __future__ import annotations

import io
from html.parser import HTMLParser

from monitor.assistance.request import Suggestion
from monitor.plugins import hookimpl

ASSISTANCE = """
assistance:
  enabled: true
  desk: desk
{extra}"""

#: what the test plugin proposes, by a word of the member's text
GUIDES = {
    "thunderbird": Suggestion("guide", "Configurer Thunderbird",
                              "https://guides.example.coop/thunderbird",
                              "Les réglages IMAP et SMTP, pas à pas.", "test-guides"),
    "thunderbird-forum": Suggestion("forum", "Thunderbird ne reçoit plus rien",
                                    "https://forum.example.coop/t/thunderbird/7",
                                    "Résolu : le mot de passe avait changé.", "test-guides"),
    "php": Suggestion("guide", "Changer la version de PHP",
                      "https://guides.example.coop/php", "Depuis l'espace membre.",
                      "test-guides"),
}


class GuidesPlugin:
    """A tiny plugin proposing guides and threads by word (registered with pluggy)."""

    def __init__(self) -> None:
        self.queries: list = []

    @hookimpl
    def vigie_assistance_suggestions(self, query):
        self.queries.append(query)
        text = query.text.lower()
        if "thunderbird" in text:
            return [GUIDES["thunderbird"], GUIDES["thunderbird-forum"]]
        if "php" in text:
            return [GUIDES["php"]]
        return []


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._in: dict | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in = {"action": a.get("action"), "method": a.get("method", "get"),
                        "enctype": a.get("enctype"), "fields": {}, "buttons": []}
            self.forms.append(self._in)
        elif self._in is not None and tag == "input":
            kind = a.get("type", "text")
            if kind in ("hidden", "text", "email") and a.get("name"):
                self._in["fields"][a["name"]] = a.get("value") or ""
        elif self._in is not None and tag == "textarea":
            self._textarea = a.get("name")
            self._in["fields"][self._textarea] = ""
        elif self._in is not None and tag == "button":
            self._in["buttons"].append("")

    def handle_data(self, data):
        if self._textarea is not None:
            self._in["fields"][self._textarea] += data
        elif self._in is not None and self._in["buttons"] and self.lasttag == "button":
            self._in["buttons"][-1] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in = None


def forms(html: str) -> list[dict]:
    """The forms of a page: action, method, enctype, the fields a browser would send
    (hidden, text, e-mail, textarea; as served) and the buttons' words."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        # a textarea's content starts after the newline following its tag
        form["fields"] = {k: v[1:] if v.startswith("\n") else v for k, v in form["fields"].items()}
        form["buttons"] = [" ".join(b.split()) for b in form["buttons"]]
    return parser.forms


def form_to(html: str, action_part: str) -> dict:
    """The one form of ``html`` posting to an address containing ``action_part``."""
    found = [f for f in forms(html) if action_part in (f["action"] or "")]
    assert len(found) == 1, [f["action"] for f in forms(html)]
    return found[0]


def png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    """A real PNG image."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps(size=(80, 60)) -> bytes:
    """A real JPEG carrying EXIF GPS tags (a position near Paris) and a device name."""
    from PIL import ExifTags, Image

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 3.0)
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert has_gps(data)
    return data


def has_gps(data: bytes) -> bool:
    """Whether an image carries EXIF GPS tags (or any EXIF at all)."""
    from PIL import ExifTags, Image

    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    return bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) or b"GPS" in image.info.get("exif", b"")


def has_exif(data: bytes) -> bool:
    """Whether an image carries any EXIF metadata."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    return bool(image.getexif()) or "exif" in image.info

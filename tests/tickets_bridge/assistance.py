"""A member's request for help as the core puts it in the outbox, with two screenshots on
disk (a PNG and a JPEG, written here byte by byte: no EXIF, no text chunk)."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib
from pathlib import Path

from monitor.assistance.request import AssistanceRequest, Screenshot, Suggestion

T0 = 1_773_320_400.0  # 12 March 2026, 14:00 Paris time
REFERENCE = "DEM-20260312-7KQ2"
MEMBER = "camille.martin@exemple.org"
AGENT = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"
GUIDE = Suggestion(kind="guide", title="Installer le client de synchronisation Nextcloud",
                   url="https://doc.exemple.coop/nextcloud/client-synchronisation",
                   excerpt="Le client de bureau Nextcloud synchronise un dossier.", opened=True)
THREAD = Suggestion(kind="forum", title="Nextcloud ne synchronise plus depuis ce matin",
                    url="https://forum.exemple.coop/t/nextcloud-ne-synchronise-plus/102")


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid grey PNG: signature, IHDR, IDAT, IEND, nothing else."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(range(0, 3 * width, 3)) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                                 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg() -> bytes:
    """A valid baseline JPEG of one grey 8×8 block: JFIF, tables, one scan; no APP1."""
    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data

    one_code = bytes([1] + [0] * 15) + b"\x00"  # one symbol (0) with a 1-bit code
    return (b"\xff\xd8"
            + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + segment(0xDB, b"\x00" + b"\x01" * 64)
            + segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
            + segment(0xC4, b"\x00" + one_code) + segment(0xC4, b"\x10" + one_code)
            + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
            + b"\x3f" + b"\xff\xd9")


def has_metadata(data: bytes) -> bool:
    """EXIF (JPEG APP1, PNG eXIf) or XMP or PNG text chunks in ``data``."""
    return any(mark in data for mark in (b"Exif", b"eXIf", b"http://ns.adobe.com/xap",
                                         b"tEXt", b"iTXt", b"zTXt"))


def screenshot(folder: Path, filename: str, data: bytes, media_type: str) -> Screenshot:
    path = folder / f"{hashlib.sha256(data).hexdigest()[:12]}-{len(data)}"
    path.write_bytes(data)
    return Screenshot(filename=filename, path=str(path), media_type=media_type,
                      size=len(data), sha256=hashlib.sha256(data).hexdigest())


def make_request(folder: Path, **changes) -> AssistanceRequest:
    """A request about Nextcloud during an incident, with two screenshots in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shots = (screenshot(folder, "synchro en erreur.png", png(), "image/png"),
             screenshot(folder, "photo-ecran.jpg", jpeg(), "image/jpeg"))
    request = AssistanceRequest(
        reference=REFERENCE, idempotency_key="assistance-7f3c9a1e-request", at=T0,
        language="fr", category="nextcloud", service_id="nextcloud",
        service_name="Nextcloud (fichiers et agendas)",
        title="Mes fichiers ne se synchronisent plus",
        description="Depuis ce matin le client affiche une croix rouge.\nJ'ai redémarré.",
        name="Camille Martin", email=MEMBER, member_id="M-1234", user_agent=AGENT,
        status_at_send="major_outage", incident_reference="INC-2026-0042",
        failing_reasons=("Nextcloud est en mode maintenance",),
        suggestions=(GUIDE, THREAD), screenshots=shots,
        status_page_url="https://etat.exemple.coop/")
    return dataclasses.replace(request, **changes)

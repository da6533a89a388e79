"""The site's icon: browsers ask every site for ``/favicon.ico`` (a 404 on every page
before); the pages also name an SVG one."""

from __future__ import annotations

import struct


def test_favicon_ico_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.cache_control.max_age == 86400
    data = response.get_data()
    # an ICO directory (reserved 0, type 1 = icon) of PNG images, 16 and 32 px among them
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1) and count >= 2
    sizes = set()
    for index in range(count):
        width, _, _, _, _, _, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * index:22 + 16 * index])
        assert data[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + length <= len(data)
        sizes.add(width)
    assert {16, 32} <= sizes


def test_pages_name_their_svg_icon(client):
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    response = client.get("/static/favicon.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<script" not in response.get_data()

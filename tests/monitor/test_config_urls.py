"""The configuration's http(s) addresses are read by pydantic's URL type, one helper for
every key (checks, plugins, bridges, help links), each key wording its own error."""

from __future__ import annotations

import pytest

from monitor.schema import http_url, http_url_problem


@pytest.mark.parametrize("value, problem", [
    ("https://cloud.example.coop", None),
    ("http://127.0.0.1:8080/server-status?auto", None),
    ("https://[::1]/status.php", None),
    ("HTTPS://Cloud.Example.Coop/", None),
    ("https://x", None),  # a one-letter host is a host
    ("ftp://files.example.coop/", "scheme"),
    ("json://hooks.example.coop/x", "scheme"),
    ("cloud.example.coop", "scheme"),
    ("/guides/mail", "scheme"),
    ("http://", "host"),
    ("https:", "host"),
    # repaired by a browser's URL parser, not by the HTTP clients: refused
    ("http:/cloud.example.coop", "host"),
    ("http:cloud.example.coop", "host"),
    ("https:///0f3c1a52", "host"),
    ("https://cloud.example.coop:99999/", "invalid"),
    ("http://[::1/", "invalid"),
])
def test_http_url_problem(value, problem):
    assert http_url_problem(value) == problem


def test_a_bridge_address_is_kept_as_written_without_its_trailing_slash():
    assert http_url("https://Forum.Example.coop/") == "https://Forum.Example.coop"
    with pytest.raises(ValueError, match="^the address has no host name"):
        http_url("https://")
    with pytest.raises(ValueError, match=r"^expected an http:// or https:// address") as info:
        http_url("ftp://bot:S3cret@forum.example.coop/")
    assert "S3cret" not in str(info.value)

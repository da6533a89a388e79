"""The ``nextcloud`` probe against a local stand-in serving Nextcloud's exact answers."""

from __future__ import annotations

import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context
from plugins import nextcloud
from plugins.nextcloud import NextcloudConfig, NextcloudProbe
from tests.conftest import ProbeClock, free_port
from tests.plugins.fakes_nextcloud import FakeNextcloud


@pytest.fixture
async def http():
    """The shared aiohttp session, as the runtime gives it to probes."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def cloud():
    """A running fake Nextcloud on 127.0.0.1."""
    fake = FakeNextcloud()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


async def run(http: aiohttp.ClientSession, timeout: float = 5.0,
              clock: ProbeClock | None = None, **options) -> ProbeResult:
    """Run the probe once, turning ProbeFailed into a result as the runner does."""
    config = NextcloudConfig.model_validate(options)
    ctx = probe_context(CheckRef("cloud", "status", "nextcloud"), timeout, http,
                        clock or time.monotonic)
    try:
        return await NextcloudProbe().check(config, ctx)
    except ProbeFailed as failed:
        return ProbeResult(failed.status, failed.reason, samples=failed.samples, info=failed.info)


def texts(result: ProbeResult) -> str:
    """Everything a person could read from a result."""
    why = result.reason
    return " ".join([why.fr, why.en] if why else []) + repr(result.info) + repr(result.samples)


async def test_up(http, cloud):
    result = await run(http, url=cloud.url)
    assert result.status == Status.UP
    assert result.reason is None
    assert result.info == {"version": "30.0.4.1", "versionstring": "30.0.4"}
    assert [r[1] for r in cloud.requests] == ["/status.php"]


async def test_maintenance_is_announced_not_an_outage(http, cloud):
    cloud.state = "maintenance"
    result = await run(http, url=cloud.url, serverinfo_token=cloud.serverinfo_token,
                       webdav_user=cloud.webdav_user, webdav_password=cloud.webdav_password)
    assert result.status == Status.MAINTENANCE
    assert result.reason.code == "nextcloud.maintenance"
    # the other routes answer 503 in maintenance: the probe does not ask them
    assert [r[1] for r in cloud.requests] == ["/status.php"]


async def test_needs_db_upgrade_is_degraded(http, cloud):
    cloud.state = "needs_upgrade"
    result = await run(http, url=cloud.url)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "nextcloud.needs_upgrade"
    assert "occ upgrade" in result.reason.en


async def test_not_installed_is_down(http, cloud):
    cloud.state = "not_installed"
    result = await run(http, url=cloud.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.not_installed"


async def test_internal_error_500_empty_body(http, cloud):
    cloud.state = "error"
    result = await run(http, url=cloud.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.internal_error"
    assert "500" in result.reason.fr and "500" in result.reason.en


async def test_a_page_that_is_not_nextcloud(http, cloud):
    cloud.state = "html"
    result = await run(http, url=cloud.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.not_nextcloud"
    assert result.reason.en == "This is not a Nextcloud status page"


async def test_json_without_the_nextcloud_keys(http):
    async def handler(request):
        return aiohttp.web.json_response({"status": "ok", "version": "1.0"})

    app = aiohttp.web.Application()
    app.router.add_get("/status.php", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        result = await run(http, url=str(server.make_url("")))
    finally:
        await server.close()
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.not_nextcloud"


async def test_status_404_is_down_with_the_code(http, cloud):
    result = await run(http, url=cloud.url + "/nextcloud")
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.status"
    assert "404" in result.reason.en


async def test_themed_product_name(http, cloud):
    cloud.productname = "Nuage Coop"
    assert (await run(http, url=cloud.url)).reason.code == "nextcloud.not_nextcloud"
    assert (await run(http, url=cloud.url, productname="Nuage Coop")).status == Status.UP
    assert (await run(http, url=cloud.url, productname=None)).status == Status.UP


async def test_min_version(http, cloud):
    old = await run(http, url=cloud.url, min_version="31.0.0")
    assert old.status == Status.DEGRADED
    assert old.reason.code == "nextcloud.old_version"
    assert "30.0.4" in old.reason.en and "31.0.0" in old.reason.en
    assert (await run(http, url=cloud.url, min_version="30.0.4")).status == Status.UP


async def test_serverinfo_samples(http, cloud):
    result = await run(http, url=cloud.url, serverinfo_token=cloud.serverinfo_token)
    assert result.status == Status.UP
    assert result.samples == {
        "nextcloud_active_users": {"5m": 7.0, "1h": 41.0, "24h": 188.0},
        "nextcloud_free_space_bytes": 412316860416.0,
        "nextcloud_users": 312.0,
        "nextcloud_files": 1849203.0,
    }
    assert set(result.samples) <= {spec.name for spec in NextcloudProbe.samples}
    _method, path, headers = cloud.requests[-1]
    assert path.startswith("/ocs/v2.php/apps/serverinfo/api/v1/info?format=json")
    assert headers["NC-Token"] == cloud.serverinfo_token


async def test_serverinfo_token_refused_is_unknown(http, cloud):
    result = await run(http, url=cloud.url, serverinfo_token="wrong-token-wrong-token")
    assert result.status == Status.UNKNOWN
    assert result.reason.code == "nextcloud.serverinfo_token"
    assert result.samples == {}
    assert "wrong-token" not in texts(result)
    assert result.info["version"] == "30.0.4.1"


async def test_a_real_verdict_outranks_an_unreadable_serverinfo(http, cloud):
    cloud.state = "needs_upgrade"
    result = await run(http, url=cloud.url, serverinfo_token="wrong-token-wrong-token")
    assert result.status == Status.DEGRADED
    assert result.reason.code == "nextcloud.needs_upgrade"


async def test_webdav_propfind_207(http, cloud):
    result = await run(http, url=cloud.url, webdav_user=cloud.webdav_user,
                       webdav_password=cloud.webdav_password)
    assert result.status == Status.UP
    method, path, headers = cloud.requests[-1]
    assert (method, path) == ("PROPFIND", f"/remote.php/dav/files/{cloud.webdav_user}/")
    assert headers["Depth"] == "0"


async def test_webdav_bad_credentials_is_down(http, cloud):
    result = await run(http, url=cloud.url, webdav_user=cloud.webdav_user,
                       webdav_password="Wrong-Passw-Ord00-00000-00000")
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.webdav_auth"
    assert cloud.webdav_user in result.reason.en
    assert "Wrong-Passw" not in texts(result)


async def test_webdav_503_maintenance(http, cloud):
    cloud.webdav_maintenance = True
    result = await run(http, url=cloud.url, webdav_user=cloud.webdav_user,
                       webdav_password=cloud.webdav_password)
    assert result.status == Status.MAINTENANCE
    assert result.reason.code == "nextcloud.maintenance"


async def test_webdav_password_file(http, cloud, tmp_path):
    secret = tmp_path / "app-password"
    secret.write_text(cloud.webdav_password + "\n")
    result = await run(http, url=cloud.url, webdav_user=cloud.webdav_user,
                       webdav_password_file=str(secret))
    assert result.status == Status.UP


async def test_nothing_listening_is_down(http):
    result = await run(http, url=f"http://127.0.0.1:{free_port()}")
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.connect"


async def test_hung_server_is_down_before_the_deadline(http, cloud):
    cloud.delay = 5
    # the run's time is up as soon as the probe looks: its own deadline fires first
    result = await run(http, timeout=10.0, clock=ProbeClock(spent=True), url=cloud.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "nextcloud.timeout"  # not the runner's "timeout"
    assert "10 s" in result.reason.en  # the check's timeout, as configured


def test_config_errors():
    with pytest.raises(ValidationError, match="webdav_password"):
        NextcloudConfig.model_validate({"url": "https://cloud.example.coop", "webdav_user": "x"})
    with pytest.raises(ValidationError, match="http"):
        NextcloudConfig.model_validate({"url": "cloud.example.coop"})
    with pytest.raises(ValidationError, match="version"):
        NextcloudConfig.model_validate({"url": "https://c.example", "min_version": "latest"})
    with pytest.raises(ValidationError, match="extra"):
        NextcloudConfig.model_validate({"url": "https://c.example", "token": "x"})
    with pytest.raises(ValidationError) as invalid:
        NextcloudConfig.model_validate({"url": "https://c.example", "webdav_password": "pw-secret"})
    assert "pw-secret" not in str(invalid.value)
    config = NextcloudConfig.model_validate({"url": "https://c.example/",
                                             "serverinfo_token": "abc-secret"})
    assert config.url == "https://c.example"
    assert "abc-secret" not in repr(config)


def test_registered_through_the_plugin_hook():
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("nextcloud", nextcloud)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    assert registry.get("nextcloud").probe_class is NextcloudProbe
    assert NextcloudProbe.info_keys == ("version",)


async def test_a_database_waiting_for_upgrade_outranks_maintenance_announced_by_webdav(
        http, cloud):
    # the one order (monitor.status): degraded is worse than maintenance; this probe once
    # ranked maintenance above degraded
    cloud.state = "needs_upgrade"
    cloud.webdav_maintenance = True
    result = await run(http, url=cloud.url, webdav_user=cloud.webdav_user,
                       webdav_password=cloud.webdav_password)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "nextcloud.needs_upgrade"


async def test_maintenance_announced_by_webdav_outranks_unreadable_serverinfo(http, cloud):
    cloud.webdav_maintenance = True
    result = await run(http, url=cloud.url, webdav_user=cloud.webdav_user,
                       webdav_password=cloud.webdav_password,
                       serverinfo_token="wrong-token-wrong-token")
    assert result.status == Status.MAINTENANCE

"""The members' status page (and, when installed, the volunteers' area): a Flask app.

``create_app`` builds it from a configuration (a ``vigie.yaml`` path, a loaded
:class:`monitor.config.Config`, or a running :class:`monitor.runtime.Runtime`, whose store
is then shared). Any WSGI server can serve it on its own::

    VIGIE_CONFIG=/etc/vigie/vigie.yaml waitress-serve --call dashboard:create_app

(``vigie dashboard`` serves it faster: cached answers are sent without a worker thread.)

It reads the store and never probes. Blueprints: :mod:`dashboard.status` (pages),
:mod:`dashboard.api` (JSON), :mod:`dashboard.feeds` (Atom, calendars), :mod:`dashboard.badges`
(SVG), ``dashboard.admin`` when that package exists, :mod:`dashboard.assistance`
(members' requests for help) when ``assistance.enabled``, and
:mod:`dashboard.subscriptions` (members' e-mail subscriptions, a page saying they are not
offered when ``subscriptions.enabled`` is false or no mail is configured, the links of the
mails already sent working all the same).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request, send_from_directory, url_for
from werkzeug.routing import IntegerConverter

from dashboard.settings import DashboardSettings, settings_of

#: the largest id a row can have (BIGINT on PostgreSQL, INTEGER on SQLite)
MAX_DATABASE_ID = 2**63 - 1

log = logging.getLogger(__name__)

__all__ = ["create_app", "load_secret_key"]


def _load_config(path: str | os.PathLike[str]):
    """Load ``vigie.yaml`` with every plugin's configuration sections."""
    from monitor.config_loader import blocked_plugins, load_config
    from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections

    path = Path(path)
    pm = build_plugin_manager(blocked=blocked_plugins(path))
    return load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))


def _resolve(config_path_or_obj: Any, store: Any):
    """``(config, store, owns_store)`` from what :func:`create_app` was given."""
    from monitor.config import Config
    from monitor.store import Store

    source = config_path_or_obj
    if source is None:
        source = os.environ.get("VIGIE_CONFIG", "vigie.yaml")
    if hasattr(source, "config") and hasattr(source, "store"):  # a running Runtime
        return source.config, store or source.store
    config = source if isinstance(source, Config) else _load_config(source)
    if store is None:
        if config.file.store.url is None:
            # the embedded default: migrate it like `vigie run` does
            config.data_dir.mkdir(parents=True, exist_ok=True)
            store = Store(config.database_url)
            store.upgrade()
        else:
            store = Store(config.database_url)
    return config, store


def load_secret_key(settings: DashboardSettings, data_dir: Path) -> str:
    """The key signing sessions and CSRF tokens.

    From ``dashboard.secret_key`` (or ``secret_key_file``); otherwise read from
    ``data_dir/secret_key``, created with a random key and mode 0600 the first time, so
    volunteers stay logged in across restarts and several processes share it.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = data_dir / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


class DatabaseIdConverter(IntegerConverter):
    """Flask's ``int`` converter bounded by the largest id a database row can have."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config_path_or_obj: Any = None, test_config: dict[str, Any] | None = None, *,
               store: Any = None, incidents: Any = None, assistance: Any = None,
               subscriptions: Any = None, locations: Any = None) -> Flask:
    """Build the dashboard application.

    :param config_path_or_obj: path of ``vigie.yaml`` (default ``$VIGIE_CONFIG`` or
        ``vigie.yaml``), a loaded :class:`monitor.config.Config`, or a running
        :class:`monitor.runtime.Runtime` (its configuration and store are used).
    :param test_config: Flask settings overriding the computed ones (``REFRESH_INTERVAL``,
        ``CHECK_INTERVAL``, ``CLOCK``…, and the waits of :class:`SnapshotCache`:
        ``FIRST_WAIT``, ``DETAIL_WAIT``, ``STUCK_AFTER``).
    :param store: a :class:`monitor.store.Store` to read (default: one opened on the
        configuration's database).
    :param incidents: the running :class:`monitor.incidents.context.IncidentContext`
        (inside ``vigie run``: volunteers' actions go through it).
    :param assistance: the running :class:`monitor.assistance.service.AssistanceService`
        (default: one built on this store when ``assistance.enabled``, without plugin
        suggestions); the pages find it in ``app.extensions["vigie.assistance"]`` (None
        when members' assistance is off).
    :param subscriptions: the running :class:`monitor.subscriptions.service.Subscriptions`
        (default: one built on this store, whatever ``subscriptions.enabled`` says: the
        links of the mails already sent keep working); the pages find it in
        ``app.extensions["vigie.subscriptions"]``; signing up at ``/abonnement/`` is
        offered when it is ``available`` (``subscriptions.enabled`` and mail configured).
    :param locations: the running Vigie's read function of the check × location grid
        (``StartupContext.location_grid``); volunteers see it at ``/admin/locations`` and
        on the pages of services with checks run from several locations. None: the
        dashboard serves alone and says the grid is only in ``vigie run``.
    """
    from dashboard import api, badges, feeds, i18n, status
    from dashboard.pages import DashboardState
    from dashboard import snapshot

    config, store = _resolve(config_path_or_obj, store)
    settings = settings_of(config.sections)
    site = config.file.site
    app = Flask(__name__)
    # every <int:…> of every blueprint stops at the database's largest id: a larger one is
    # a 404, never a 500 from the driver (BIGINT overflow)
    app.url_map.converters["int"] = DatabaseIdConverter
    app.config.update(
        SECRET_KEY=None,
        DEFAULT_LANGUAGE=site.language,
        TIMEZONE=site.timezone,
        SITE_TITLE=site.title,
        PUBLIC_URL=site.public_url.rstrip("/") if site.public_url else None,
        REFRESH_INTERVAL=settings.refresh_interval,
        CHECK_INTERVAL=settings.check_interval,
        MAX_AGE=settings.max_age,
        CLOCK=time.time,
        FREEZE_GC=settings.freeze_gc,
        FIRST_WAIT=snapshot.FIRST_WAIT,
        DETAIL_WAIT=snapshot.DETAIL_WAIT,
        STUCK_AFTER=snapshot.STUCK_AFTER,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if test_config:
        app.config.update(test_config)
        if app.testing and "FREEZE_GC" not in test_config:
            # a test process runs many apps: leave its garbage collector alone
            app.config["FREEZE_GC"] = False
    if incidents is None:  # a running Runtime given whole
        incidents = getattr(getattr(config_path_or_obj, "incidents", None), "ctx", None)
    if incidents is not None and "ADMIN_OPERATIONS" not in app.config:
        # inside `vigie run`: volunteers' actions go through the running incident context,
        # so their effects (and the outbox) are live at once
        from monitor.incidents.service import Operations

        app.config["ADMIN_OPERATIONS"] = Operations(incidents)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = load_secret_key(settings, config.data_dir)
    cfg = app.config
    cache = snapshot.SnapshotCache(
        store, config, check_interval=float(cfg["CHECK_INTERVAL"]),
        max_age=float(cfg["MAX_AGE"]), clock=cfg["CLOCK"], freeze_gc=bool(cfg["FREEZE_GC"]),
        first_wait=float(cfg["FIRST_WAIT"]), detail_wait=float(cfg["DETAIL_WAIT"]),
        stuck_after=float(cfg["STUCK_AFTER"]))
    app.extensions["vigie"] = DashboardState(config, store, cache, settings)
    if assistance is None:  # a running Runtime given whole
        assistance = getattr(getattr(config_path_or_obj, "assistance", None), "service", None)
    if assistance is None:
        from monitor.assistance.service import AssistanceService, settings_of as helped

        if helped(config).enabled:
            assistance = AssistanceService(config, store)
    app.extensions["vigie.assistance"] = assistance
    if subscriptions is None:  # a running Runtime given whole
        subscriptions = getattr(getattr(config_path_or_obj, "subscriptions", None), "service",
                                None)
    if subscriptions is None:
        # also when subscriptions are off or mail is not configured: the manage and
        # one-click unsubscribe links of the mails members hold keep working
        from monitor.subscriptions.service import Subscriptions

        subscriptions = Subscriptions(config, store)
    app.extensions["vigie.subscriptions"] = subscriptions

    i18n.init_app(app)
    for module in (status, api, feeds, badges):
        app.register_blueprint(module.bp)
    if importlib.util.find_spec("dashboard.admin") is not None:
        app.register_blueprint(importlib.import_module("dashboard.admin").bp)
    if app.extensions.get("vigie.assistance") is not None:
        from dashboard.assistance.blueprint import register

        register(app)
    from dashboard.subscriptions.blueprint import register as subscribing

    subscribing(app)
    _register_basics(app)
    from dashboard import locations as located

    if locations is None:  # a running Runtime given whole
        locations = getattr(getattr(config_path_or_obj, "locations", None), "grid", None)
    located.setup(app, locations)
    from dashboard.fastpath import FastPath

    # a service's page shows its locations to signed-in volunteers: their requests for it
    # go through Flask, never answered from the members' cached copy
    app.wsgi_app = FastPath(app.wsgi_app, cache, app.config["DEFAULT_LANGUAGE"],
                            personal_paths=("/services/",) if located.configured(app) else (),
                            session_cookie=app.config["SESSION_COOKIE_NAME"])
    # Vigie's listener (monitor.web) sends these from its event loop, with no thread hop
    app.cached_answer = app.wsgi_app.cached_answer
    return app


def _register_basics(app: Flask) -> None:
    """Health check, icon, security headers, error pages, template globals."""

    @app.route("/healthz")
    def healthz():
        """Whether the dashboard can serve its pages (the core answers it when mounted):
        once it has a snapshot it can, even while the database does not answer."""
        try:
            app.extensions["vigie"].cache.get()
        except Exception:  # any failure to read is "not healthy", with no detail leaked
            return jsonify(ok=False), 503
        return jsonify(ok=True)

    @app.route("/favicon.ico")
    def favicon():
        """The site's icon: browsers ask for it on every page, whatever the page says."""
        return send_from_directory(app.static_folder, "favicon.ico", max_age=86400,
                                   mimetype="image/vnd.microsoft.icon")

    from dashboard.subscriptions.blueprint import offered_service

    @app.context_processor
    def _site() -> dict[str, Any]:
        state = app.extensions["vigie"]
        return {"site_title": app.config["SITE_TITLE"],
                "help_links": state.settings.help_links,
                "admin_enabled": "admin" in app.blueprints,
                "assistance_url": (url_for("assistance.choose") if "assistance" in app.blueprints
                                   else None),
                "subscribe_url": (url_for("subscriptions.subscribe")
                                  if offered_service(app) is not None else None),
                "lang": i18n_lang()}

    @app.after_request
    def _headers(response):
        headers = response.headers
        # nothing is ever loaded from elsewhere: the page must work when the rest is down
        headers.setdefault("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                           "script-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        return response

    def error_page(code: int, template: str):
        def handler(_error):
            if request.path.startswith(("/api/", "/admin/api/")):
                return jsonify(error={404: "not_found", 503: "unavailable"}.get(code, "error"),
                               status=code), code
            return render_template(template, code=code), code
        return handler

    app.register_error_handler(404, error_page(404, "errors/404.html"))
    app.register_error_handler(500, error_page(500, "errors/500.html"))
    app.register_error_handler(503, error_page(503, "errors/503.html"))

    from sqlalchemy.exc import SQLAlchemyError

    from dashboard.snapshot import SnapshotUnavailable

    @app.errorhandler(SnapshotUnavailable)
    def _no_snapshot(error):
        log.error("the status page has no data yet: the database does not answer")
        return error_page(503, "errors/503.html")(error)

    @app.errorhandler(SQLAlchemyError)
    def _database_error(error):
        if not database_unavailable(error):
            # a bug (a value of the wrong type, a bad query…): a 500 with its traceback,
            # not a "database down" that would send the volunteer looking at the server
            log.error("error on %s %s", request.method, request.path, exc_info=error)
            return error_page(500, "errors/500.html")(error)
        # the driver's own words (no SQL statement, no parameters)
        log.error("the status page cannot read the database: %s",
                  getattr(error, "orig", None) or type(error).__name__)
        return error_page(503, "errors/503.html")(error)


def database_unavailable(error: BaseException) -> bool:
    """Whether a SQLAlchemy error means the database cannot be used right now (server down
    or unreachable, connection lost, locked or unreadable file, pool exhausted), rather
    than a mistake in what was asked of it."""
    from sqlalchemy import exc

    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.InternalError,
                          exc.TimeoutError, exc.DisconnectionError)):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    # the driver's generic DatabaseError (e.g. SQLite's "file is not a database"), not one
    # of its subclasses for bad data or bad SQL (DataError, IntegrityError, ProgrammingError)
    return type(error) is exc.DatabaseError


def i18n_lang() -> str:
    """The current request's language (for templates outside a snapshot rendering)."""
    from dashboard.i18n import select_language

    return select_language()

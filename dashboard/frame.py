"""The status site's frame for pages served beside the dashboard, without Flask.

The guide pages (:mod:`docs_bridge.guide_pages`) wear the status page's header (the
site's name, the main menu, the language switch) and style. They are rendered here with
plain Jinja and Vigie's gettext catalogues, from the same ``_header.html`` the
status pages include, so they need neither the dashboard's app nor its database: they
work while the database is away, and even where the dashboard is not mounted (then the
menu's links lead nowhere, the guide still reads).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from babel.support import Translations
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from dashboard.i18n import LANGUAGES
from monitor import words

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=len(LANGUAGES))
def environment(lang: str) -> Environment:
    """A Jinja environment on the dashboard's templates speaking ``lang``."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(Translations.load(words.LOCALES, [lang], words.DOMAIN),
                                     newstyle=True)
    return env


@lru_cache(maxsize=1)
def stylesheet() -> tuple[Markup, str]:
    """The status page's style sheet, to put inline, and its ``'sha256-…'`` source for a
    Content-Security-Policy that allows this sheet and nothing else."""
    css = (HERE / "static" / "vigie.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return Markup(css), f"'sha256-{digest}'"


def header(lang: str, site_name: str, root: str, path: str,
           assistance: bool = False, subscriptions: bool = False) -> dict[str, str | None]:
    """What ``_header.html`` needs for a page at ``path`` of a site rooted at ``root``
    (``""`` when the status page is at ``/``): the language switch comes back to ``path``;
    ``assistance``: the site offers ``/assistance/`` ("A problem?" in the menu);
    ``subscriptions``: it offers e-mail subscriptions at ``/abonnement/`` ("Subscribe")."""
    other = "en" if lang == "fr" else "fr"
    return {"site_name": site_name, "overview": f"{root}/", "incidents": f"{root}/incidents",
            "maintenance": f"{root}/maintenance", "current": None,
            "switch": f"{root}/lang/{other}?{urlencode({'next': path})}",
            "assistance": f"{root}/assistance/" if assistance else None,
            "subscribe": f"{root}/abonnement/" if subscriptions else None}


def render(template: str, lang: str, **values) -> str:
    """``template`` of the dashboard's templates rendered in ``lang`` with ``values``
    (and ``style``: the inline style sheet)."""
    return environment(lang).get_template(template).render(lang=lang, style=stylesheet()[0],
                                                           **values)

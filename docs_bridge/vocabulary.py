"""The cooperative's vocabulary: what guides call the things checks and services name.

A check says ``imap``; a guide says "messagerie", "courriel", "boîte mail". This table
bridges them when a search query is built. A configuration adds its own words
(``guides.synonyms``) on top; keys are matched accent- and case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping

from docs_bridge.text import fold

#: built-in synonyms: service ids, check kinds and words of failure reasons
SYNONYMS: dict[str, str] = {
    "nextcloud": "cloud fichiers synchronisation partage",
    "owncloud": "cloud fichiers synchronisation partage",
    "cloud": "nextcloud fichiers synchronisation",
    "webdav": "nextcloud fichiers synchronisation",
    "caldav": "agenda calendrier",
    "carddav": "contacts carnet d'adresses",
    "mysql": "base de données mariadb phpmyadmin",
    "mariadb": "base de données mysql phpmyadmin",
    "postgresql": "base de données postgres",
    "postgres": "base de données postgresql",
    "bases": "base de données",
    "smtp": "messagerie courriel mail envoi",
    "imap": "messagerie courriel mail boîte réception",
    "pop3": "messagerie courriel mail boîte réception",
    "mail": "messagerie courriel",
    "courriel": "messagerie mail",
    "messagerie": "courriel mail",
    "webmail": "messagerie courriel",
    "sympa": "liste de diffusion abonnés",
    "listes": "liste de diffusion sympa",
    "http": "site web",
    "php_fpm": "php hébergement site",
    "php": "hébergement site",
    "apache_status": "hébergement site web",
    "sites": "site web hébergement",
    "web": "site hébergement",
    "hebergement": "site web",
    "tls": "certificat https",
    "https": "certificat",
    "certificat": "https tls",
    "dns": "domaine zone",
    "domaine": "dns zone",
    "heartbeat": "sauvegarde",
    "sauvegarde": "restauration",
    "espace-membre": "espace membre compte connexion",
    "panel": "espace membre compte",
    "forum": "discussion entraide",
}

#: what guides call the state a member sees, per service status / incident impact: a slow
#: service's guide says "lent", an outage's says "panne"
STATES: dict[str, str] = {
    "degraded": "lent lenteur ralenti",
    "partial_outage": "panne",
    "major_outage": "panne inaccessible",
    "maintenance": "maintenance",
}


def merged(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The built-in table with ``extra`` added (an extra entry replaces a built-in one),
    keys folded."""
    table = {fold(k): v for k, v in SYNONYMS.items()}
    for key, words in (extra or {}).items():
        table[fold(key)] = words
    return table


def expand(word: str, table: Mapping[str, str]) -> str:
    """The synonyms of ``word`` (folded lookup), or ""."""
    return table.get(fold(word), "")

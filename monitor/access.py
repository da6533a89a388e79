"""Who may do what in the volunteers' area: roles, permissions, who acts, and the refusal.

Three roles (stored on each user, ``users.role``):

- **admin** — everything: accounts, roles, tokens, the audit log, the members'
  subscription addresses (export, forget), webhook endpoints, the remote agents'
  tokens, and all of the below;
- **editor** — incidents, notices, maintenance windows;
- **desk** — deliveries to the plugins (retry a failed alert, forum post or ticket) and
  the members' requests for help (where each stands; never their screenshots).

Every role may read the volunteers' pages and lists and end its own sessions
(:attr:`Permission.READ`). An API token acts with its user's role, or with a narrower
role of its own: its permissions are those both roles have.

:class:`Actor` is who acts (a signed-in volunteer, a token, the command line, or Vigie
itself); the service layer (:func:`monitor.guard.operation`) refuses with
:class:`Forbidden` what the actor's role does not allow, before anything is read or
written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from monitor.words import Bilingual

log = logging.getLogger(__name__)


class Role(StrEnum):
    """A volunteer's role."""

    ADMIN = "admin"
    EDITOR = "editor"
    DESK = "desk"


class Permission(StrEnum):
    """What an action needs."""

    #: read the volunteers' pages and lists; end one's own sessions
    READ = "read"
    #: open incidents, post updates, change the impact, resolve, post-mortems
    INCIDENTS = "incidents"
    #: post, edit and end notices
    NOTICES = "notices"
    #: plan, edit, end and cancel maintenance windows
    MAINTENANCE = "maintenance"
    #: retry a failed delivery (alert, forum post, ticket)
    DELIVERIES = "deliveries"
    #: users, roles, API tokens, other volunteers' sessions
    ACCOUNTS = "accounts"
    #: read and export the audit log
    AUDIT = "audit"
    #: see the members' requests for help and where their delivery stands
    ASSISTANCE = "assistance"
    #: see the members' subscription addresses, export and forget them (every role sees
    #: the counts)
    SUBSCRIBERS = "subscribers"
    #: register, change, rotate and remove webhook endpoints
    WEBHOOKS = "webhooks"
    #: add and revoke the tokens of remote agents
    AGENTS = "agents"


#: what each role may do
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.EDITOR: frozenset({Permission.READ, Permission.INCIDENTS, Permission.NOTICES,
                            Permission.MAINTENANCE}),
    Role.DESK: frozenset({Permission.READ, Permission.DELIVERIES, Permission.ASSISTANCE}),
}

#: the roles' names for people
ROLE_NAMES: dict[Role, Bilingual] = {
    Role.ADMIN: Bilingual("administration", "administrator"),
    Role.EDITOR: Bilingual("rédaction", "editor"),
    Role.DESK: Bilingual("accueil", "desk"),
}

#: what each permission allows (in refusals)
PERMISSION_NAMES: dict[Permission, Bilingual] = {
    Permission.READ: Bilingual("consulter l'espace bénévoles", "use the volunteers' area"),
    Permission.INCIDENTS: Bilingual("gérer les incidents", "manage incidents"),
    Permission.NOTICES: Bilingual("gérer les messages d'information", "manage notices"),
    Permission.MAINTENANCE: Bilingual("gérer les maintenances", "manage maintenance windows"),
    Permission.DELIVERIES: Bilingual("relancer les envois", "retry deliveries"),
    Permission.ACCOUNTS: Bilingual("gérer les comptes et les jetons",
                                   "manage accounts and tokens"),
    Permission.AUDIT: Bilingual("consulter le journal des modifications", "read the audit log"),
    Permission.ASSISTANCE: Bilingual("voir les demandes d'aide des membres",
                                     "see the members' requests for help"),
    Permission.SUBSCRIBERS: Bilingual("voir et effacer les adresses des abonnés",
                                      "see and forget the subscribers' addresses"),
    Permission.WEBHOOKS: Bilingual("gérer les webhooks", "manage webhooks"),
    Permission.AGENTS: Bilingual("gérer les jetons des agents distants",
                                 "manage the remote agents' tokens"),
}


def parse_role(value: str | None) -> Role | None:
    """The role named ``value`` (None for an unknown or empty name)."""
    try:
        return Role((value or "").strip().lower())
    except ValueError:
        return None


def is_narrower(role: Role, than: Role) -> bool:
    """Whether ``role`` allows nothing that ``than`` does not."""
    return GRANTS[role] <= GRANTS[than]


class Forbidden(PermissionError):
    """The actor's role does not allow the action (HTTP 403, exit code 3).

    :ivar permission: what was needed (None: the action declares nothing, a bug).
    :ivar words: what to tell the volunteer, in French and English (``str(exc)`` is the
        English).
    """

    def __init__(self, permission: Permission | None, role: str) -> None:
        self.permission = permission
        if permission is None:  # a page or command that declares no permission: a bug
            self.words = Bilingual("Cette action n'est ouverte à aucun rôle : c'est une "
                                   "erreur de Vigie, signalez-la.",
                                   "This action is open to no role: it is a bug in Vigie, "
                                   "please report it.")
        else:
            who, what = _role_words(role), PERMISSION_NAMES[permission]
            self.words = Bilingual(
                f"Votre rôle ({who.fr}) ne permet pas de {what.fr}. Demandez à une personne "
                "de l'administration si vous en avez besoin.",
                f"Your role ({who.say('en')}) does not allow you to {what.say('en')}. Ask an "
                "administrator if you need to.")
        super().__init__(self.words.say("en"))

    def message(self, lang: str = "fr") -> str:
        """The message in ``lang`` (``fr`` or ``en``)."""
        return self.words.say(lang)


def _role_words(role: str) -> Bilingual:
    """``admin/desk`` (a narrowed token) as ``administration / accueil``, and in English."""
    names = []
    for part in role.split("/"):
        known = parse_role(part)
        names.append(ROLE_NAMES[known] if known else Bilingual(part))
    return Bilingual(" / ".join(n.fr for n in names), " / ".join(n.say("en") for n in names))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change.

    :ivar name: a user name; the Unix login for the server operator; ``system`` for Vigie.
    :ivar role: the role as recorded (``admin``, ``editor``, ``desk``; ``admin/desk`` for
        a token narrower than its user; ``operator``; ``system``).
    :ivar permissions: what the actor may do.
    :ivar via: ``web``, ``api``, ``cli`` or ``system``.
    :ivar token_id: the API token used, if any.
    :ivar address: where from: the client's address, ``login@host`` for the CLI.
    """

    name: str
    role: str
    permissions: frozenset[Permission]
    via: str
    token_id: int | None = None
    address: str | None = None

    @classmethod
    def user(cls, name: str, role: str, via: str, *, token_role: str | None = None,
             token_id: int | None = None, address: str | None = None) -> Actor:
        """A volunteer acting with their role (narrowed by their token's, if any)."""
        own = parse_role(role)
        permissions = GRANTS.get(own, frozenset()) if own else frozenset()
        label = own.value if own else f"unknown:{role}"
        narrowed = parse_role(token_role)
        if narrowed is not None:
            permissions = permissions & GRANTS[narrowed]
            label = f"{label}/{narrowed.value}" if narrowed != own else label
        return cls(name, label, permissions, via, token_id, address)

    @property
    def author(self) -> str | None:
        """The name recorded as the author of what the actor writes (None for Vigie)."""
        return None if self.via == "system" else self.name

    def can(self, permission: Permission) -> bool:
        """Whether the actor may do what ``permission`` covers."""
        return permission in self.permissions

    def require(self, permission: Permission, action: str = "") -> None:
        """Refuse (:class:`Forbidden`) unless the actor may.

        The refusal is logged (who, role, what), never the values sent.
        """
        if not self.can(permission):
            log.warning("refused: %s %r (role %s) may not %s (%s)", self.via, self.name,
                        self.role, permission.value, action or "-")
            raise Forbidden(permission, self.role)


#: Vigie itself, and in-process callers that give no actor (tests, the runtime)
SYSTEM = Actor("system", "system", frozenset(Permission), "system")

__all__ = ["GRANTS", "PERMISSION_NAMES", "ROLE_NAMES", "SYSTEM", "Actor", "Forbidden",
           "Permission", "Role", "is_narrower", "parse_role"]

"""What is wrong with a member's form: one message per field, in the order of the form.

The members' forms (``/assistance/``, ``/abonnement/``) read their fields once at the
boundary and collect what is wrong here; the pages show an error summary linking each
message to its field (``templates/_fields.html``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: the longest e-mail address accepted (RFC 5321's path limit)
EMAIL_LIMIT = 254
#: what an e-mail address must look like: a local part, ``@``, a domain with a dot
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


@dataclass
class Problems:
    """What is wrong with a form: one message per field (and general ones).

    :param order: the fields in the order of the page (the summary follows it; a field
        not named comes last).
    """

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    order: tuple[str, ...] = ()

    def add(self, name: str, message: str) -> None:
        """Say what is wrong with field ``name`` (the first message for a field stays)."""
        self.fields.setdefault(name, message)

    def ordered(self) -> list[tuple[str, str]]:
        """``(field, message)`` in the order of the form."""
        order = self.order
        return sorted(self.fields.items(),
                      key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    @property
    def count(self) -> int:
        """How many problems the summary lists."""
        return len(self.fields) + len(self.general)

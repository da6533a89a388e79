"""The cluster's tables: ``cluster_nodes`` (membership), ``cluster_lease`` (leadership),
``check_states`` (what the owner of a check knows, for the next one), and the feed of
transitions the leader follows (``cluster_transitions``, ``cluster_feed``).

Times are Unix epoch seconds read from the database's clock (:mod:`monitor.cluster.clock`),
never from a node's (except the result times of ``check_states`` and of the feed).
Migrations ``0015_cluster``, ``0016_check_states`` and ``0017_cluster_feed`` create them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import REASON_LENGTH, Base

#: longest node name (as ``cluster.node`` allows)
NODE_LENGTH = 63
#: length of an incarnation id (:func:`monitor.cluster.membership.new_incarnation`)
INCARNATION_LENGTH = 32
#: longest listen address kept
ADDRESS_LENGTH = 255


class ClusterNodeRow(Base):
    """A node of the cluster, as its last heartbeat left it."""

    __tablename__ = "cluster_nodes"

    name: Mapped[str] = mapped_column(String(NODE_LENGTH), primary_key=True)
    #: random id of the process now running under this name (a new one at each start)
    incarnation: Mapped[str] = mapped_column(String(INCARNATION_LENGTH))
    started_at: Mapped[float] = mapped_column(Double)
    heartbeat_at: Mapped[float] = mapped_column(Double)
    #: where volunteers reach this node (its listen address)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    #: Vigie's version on this node
    version: Mapped[str] = mapped_column(String(40))
    #: set when the node left gracefully (the others react at once)
    left_at: Mapped[float | None] = mapped_column(Double)


class ClusterLeaseRow(Base):
    """A lease: which process holds it, until when, under which fencing epoch."""

    __tablename__ = "cluster_lease"

    #: ``leader`` (one row per lease)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the node that holds it, or held it last (it is free once ``expires_at`` passed)
    holder: Mapped[str] = mapped_column(String(NODE_LENGTH))
    incarnation: Mapped[str] = mapped_column(String(INCARNATION_LENGTH))
    #: the fencing number: grows by one at each new tenure, never on a renewal
    epoch: Mapped[int] = mapped_column(BigInteger)
    #: when this tenure began
    acquired_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)


class CheckStateRow(Base):
    """A check's hidden state as its owner last wrote it, so that the node that takes the
    check over starts from it: the confirmed status and since when, and the failures seen
    toward ``confirm``. Written only in cluster mode, with the results, when it changes
    (a check that stays up writes nothing)."""

    __tablename__ = "check_states"

    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"), primary_key=True)
    #: confirmed status (:class:`monitor.probe.Status`); NULL before the first verdict
    status: Mapped[int | None] = mapped_column(SmallInteger)
    #: when the confirmed status began
    since: Mapped[float | None] = mapped_column(Double)
    #: consecutive results disagreeing with the confirmed status (toward ``confirm``)
    failures: Mapped[int] = mapped_column(Integer)
    #: start of the run that left this state: an older state never replaces a newer one
    at: Mapped[float] = mapped_column(Double)


class TransitionRow(Base):
    """A check's confirmed status changed on its owner: the feed the leader follows, in
    ``id`` order, to keep every check's status and derive the services'. Ids are taken
    from the ``head`` row of ``cluster_feed`` inside the inserting transaction, which
    locks it to its commit, so they become visible in their order: the leader never sees
    an id after a greater one."""

    __tablename__ = "cluster_transitions"
    __table_args__ = (
        # a batch written again after an ambiguous failure adds nothing
        UniqueConstraint("check_id", "at", "current"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    #: the status before (NULL: the first verdict) and since when it held
    previous: Mapped[int | None] = mapped_column(SmallInteger)
    previous_since: Mapped[float | None] = mapped_column(Double)
    current: Mapped[int] = mapped_column(SmallInteger)
    #: start of the run that confirmed it, and how long that run took
    at: Mapped[float] = mapped_column(Double)
    duration: Mapped[float] = mapped_column(Double)
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reason_fr: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    reason_en: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    reason_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: the node that wrote it
    node: Mapped[str] = mapped_column(String(NODE_LENGTH))


class FeedPositionRow(Base):
    """Positions in the feed: ``head`` (the last id taken: its row lock orders the
    writers) and ``leader`` (the last transition the leaders applied; a new leader goes
    on from there)."""

    __tablename__ = "cluster_feed"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)

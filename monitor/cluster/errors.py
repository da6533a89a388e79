"""What can go wrong in a cluster, as exceptions the runtime tells apart."""

from __future__ import annotations


class ClusterError(Exception):
    """Base of the cluster's errors."""


class NodeNameTaken(ClusterError):
    """Another live process already runs with this node name: this one must not start."""


class NodeReplaced(ClusterError):
    """This process's node row was taken by another process with the same name (this one
    was presumed dead) or marked as left: it must stop acting as a node."""


class LeaseBusy(ClusterError):
    """The lease row stayed locked longer than the wait allowed (a side-effect transaction
    of the leader holds it): whether this node leads is unknown this time."""


class Fenced(ClusterError):
    """The lease no longer has the epoch a side effect was started under (another node
    leads, or the lease expired): the side effect must not happen."""

"""Several ``vigie run`` on one PostgreSQL: membership, ownership and leadership.

PostgreSQL is the distributed engine; Vigie adds no consensus of its own (see
docs/cluster.md):

- :mod:`~monitor.cluster.membership` — each node's row in ``cluster_nodes``, kept fresh by
  a heartbeat; the live nodes are those that beat within ``dead_after`` heartbeats;
- :mod:`~monitor.cluster.ownership` — which live node runs a check: rendezvous hashing,
  pure, so every node computes the same answer from the same live set;
- :mod:`~monitor.cluster.leadership` — one leader, holding the lease row of
  ``cluster_lease`` with a fencing epoch; :meth:`Leadership.fence` checks it inside a
  side-effect transaction;
- :mod:`~monitor.cluster.node` — :class:`ClusterNode`, one process's membership and bid
  for leadership kept up by one loop, with callbacks for the runtime;
- :mod:`~monitor.cluster.status` and :mod:`~monitor.cluster.metrics` — what volunteers
  and Prometheus see; :mod:`~monitor.cluster.cli` — ``vigie cluster status``.

Every time of liveness and of the lease is the database's clock
(:mod:`~monitor.cluster.clock`): the nodes' own clocks never matter.

Nothing is imported here, so that reading the configuration (``cluster.settings``) loads
nothing else.
"""

"""``vigie agent``: the checks of one remote location, run far from the server.

An agent needs no database and no configuration file. With its own token it fetches the
checks assigned to its location from a Vigie server (:mod:`monitor.agent.checks`,
:mod:`monitor.agent.protocol`), runs them with the same probe plugins, runner and
deadlines as the server (:mod:`monitor.agent.loop`), keeps every result on disk
(:mod:`monitor.agent.spool`) and sends them in batches, in order, when the server can take
them (:mod:`monitor.agent.sender`). See docs/agent.md.
"""

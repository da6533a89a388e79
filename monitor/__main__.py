"""``python -m monitor`` is the ``vigie`` command."""

from monitor.cli import main

main()

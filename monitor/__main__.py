"""``python -m monitor`` is the ``vigie`` command."""

from monitor.launch import main

main()

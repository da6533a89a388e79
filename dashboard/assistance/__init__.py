"""Members' requests for help: the ``/assistance/`` pages and their screenshots."""

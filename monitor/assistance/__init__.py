"""Members' assistance: a member's request for help, from the service they name to one
helpdesk ticket with their screenshots (see docs/guide-membres.md and docs/admin.md)."""

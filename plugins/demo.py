"""Placeholder: the demo plugin is being written."""

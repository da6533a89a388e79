"""Placeholder: this probe kind is being written."""

"""Tests of docs_bridge: guides and forum."""

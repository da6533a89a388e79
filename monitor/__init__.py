"""Vigie's monitoring core: configuration, plugins, scheduler, state, store, metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vigie")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

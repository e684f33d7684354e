"""Inkbus: real-time handwriting recognition over RabbitMQ."""

from foundation.version import __version__

__all__ = ["__version__"]

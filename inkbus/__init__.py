"""Inkbus: real-time handwriting recognition over RabbitMQ."""

__version__ = "0.1.0"

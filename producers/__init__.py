"""Producers: publish recognition jobs (with confirms and coalescing) for the edge and the HTTP API."""

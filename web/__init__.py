"""The edge: Flask app factory, HTTP API, Socket.IO, and the bridge to the bus."""

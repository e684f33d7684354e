"""Serving the edge: Flask-SocketIO's runner, except under gevent where the listener is ours.

Why: Socket.IO sends many small frames (an ack, then a prediction moments later). With Nagle's
algorithm on, the second small frame waits for the client's delayed ACK of the first, which adds
to a pen-up -> prediction round trip (measured in docs/WEB.md, "TCP_NODELAY"). Accepted sockets
inherit TCP_NODELAY from the listener on Linux, so we set it there.
"""

from __future__ import annotations

import socket

from flask import Flask
from flask_socketio import SocketIO


def serve(app: Flask, socketio: SocketIO, host: str, port: int) -> None:
    if socketio.async_mode != "gevent":
        # threading serves with Werkzeug (development and tests); eventlet with its own server
        socketio.run(app, host=host, port=port, log_output=False, allow_unsafe_werkzeug=True)
        return
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    from foundation.logs import route_gevent_errors

    route_gevent_errors()

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(1024)
    server = pywsgi.WSGIServer(listener, app, handler_class=WebSocketHandler, log=None)
    socketio.wsgi_server = server
    server.serve_forever()

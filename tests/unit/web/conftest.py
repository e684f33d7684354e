"""The drawing protocol's rule tests share one connected drawing on stand-in Socket.IO and bus objects."""

from __future__ import annotations

import pytest

from tests.unit.web.test_socket_rules import FakeBridge, FakeSocketIO
from web.sockets import DrawingSessions


@pytest.fixture
def world(request, settings):
    # a module may bring stand-ins of its own (test_socket_sessions.py's bridge records what it publishes)
    sio = getattr(request.module, "FakeSocketIO", FakeSocketIO)()
    bridge = getattr(request.module, "FakeBridge", FakeBridge)()
    sessions = DrawingSessions(sio, bridge, settings)
    sessions.connect("s1")
    return sessions, sio, bridge

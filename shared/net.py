"""Small networking helpers shared by the app launchers, the H2O resource, benches and tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

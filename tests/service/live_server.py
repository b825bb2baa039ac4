"""A real uvicorn server on a free 127.0.0.1 port, in a thread of the test process, so tests
speak real HTTP (and TLS) over real sockets while still reading the app's state directly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dmf.service.serve import TlsFiles, build_server


@contextmanager
def live_server(app: object, tls: TlsFiles | None = None,
                host: str = "127.0.0.1") -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:PORT` or `https://localhost:PORT`)."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP; with proto 0 every keep-alive response waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = build_server(app, host, port, tls, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"https://localhost:{port}" if tls else f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

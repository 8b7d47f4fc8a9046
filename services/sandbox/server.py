"""Serve any ASGI app with uvicorn in a background thread on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def servir(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, espera_s: float = 15.0
) -> Iterator[str]:
    """Run `app` until the block ends and yield its base URL, e.g. http://127.0.0.1:41234."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP; with proto 0 every keep-alive request waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    porta = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto")
    servidor = uvicorn.Server(config)
    # Server.run skips signal handlers outside the main thread, so a thread is safe here.
    linha = threading.Thread(
        target=servidor.run, kwargs={"sockets": [sock]}, name=f"sandbox-{porta}", daemon=True
    )
    linha.start()
    limite = time.monotonic() + espera_s
    while not servidor.started:
        if not linha.is_alive() or time.monotonic() > limite:
            servidor.should_exit = True
            sock.close()
            raise RuntimeError(f"servidor de sandbox não iniciou em {host}:{porta}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{porta}"
    finally:
        servidor.should_exit = True
        linha.join(timeout=espera_s)
        sock.close()

"""Serving an aiohttp app on a socket bound first, so its address is known before it starts."""

from __future__ import annotations

import socket

from aiohttp import web


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: any free port), bound before the app is built so
    the address is known to everything that needs it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def start_site(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
) -> tuple[web.AppRunner, str]:
    """Serve `app` on `sock`, or on host:port (0: any free port); the runner and the base URL."""
    sock = sock or bind(host, port)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, address(sock)

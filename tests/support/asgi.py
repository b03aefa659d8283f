"""Serving a test's ASGI app with uvicorn on a local port until the block ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn


@asynccontextmanager
async def serving_asgi(
    app: Any,
    *,
    lifespan: Literal["on", "off"] = "off",
    port: int = 0,
    timeout_graceful_shutdown: int | None = None,
) -> AsyncIterator[int]:
    """The port ``app`` listens on (a free one for ``port=0``).

    uvicorn binds the socket itself: connections accepted from a socket handed to it keep
    Nagle's algorithm on, which delays answers.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan,
                            log_config=None, access_log=False,
                            timeout_graceful_shutdown=timeout_graceful_shutdown)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # uvicorn offers no event to wait on
            if task.done():
                task.result()
                raise RuntimeError(f"{type(app).__name__} stopped before it started")
            await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task

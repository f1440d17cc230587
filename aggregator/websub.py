"""WebSub publishing: tell the hub which topic feeds changed, so subscribers get them pushed.

The hub fetches the feeds itself; we only ping it (``hub.mode=publish``, ``hub.url=<feed>``). Pings
that fail are kept in the store and sent again with the next publish, whatever that publish changes.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from aggregator import logs
from aggregator.normalise import redact

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds per ping: a slow hub may delay the next publish by this much, never block it


async def ping(hub: str, urls: list[str], user_agent: str) -> list[str]:
    """Notify the hub of each URL; returns the URLs it did not accept (to try again next time)."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": user_agent}) as session:

        async def one(url: str) -> str | None:
            try:
                async with session.post(hub, data={"hub.mode": "publish", "hub.url": url}) as response:
                    if 200 <= response.status < 300:
                        return None
                    problem = f"HTTP {response.status} {response.reason or ''}".rstrip()
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            logs.event(
                log, "websub.failed", logging.WARNING, hub=redact(hub), feed=url, error=redact(problem),
                action="will retry with the next publish",
            )  # fmt: skip
            return url

        failed = [url for url in await asyncio.gather(*(one(url) for url in urls)) if url is not None]
    logs.event(log, "websub.notified", hub=redact(hub), feeds=len(urls) - len(failed), failed=len(failed))
    return failed

"""The one HTTP client: conditional GET, limits, timeouts, a size cap while streaming, checked redirects."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from aggregator.config import Settings, is_private_host
from aggregator.errors import FetchError
from aggregator.models import Response
from aggregator.normalise import redact

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
)
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
#: Response headers the schedule reads (how long to wait before asking again).
_HINT_HEADERS = ("Retry-After", "Cache-Control", "Expires", "Date", "Age")

_STATUS_ADVICE = {
    401: "the site asks for a login: this is not a public feed",
    403: "the site refuses us (it may block bots or need a login); open the url in a browser to check",
    404: "no feed at this address: the url in feeds.yaml is wrong or the feed was removed",
    410: "the feed was removed for good: delete the source or find its new address",
    429: "the site says we ask too often; we wait as long as it asks (Retry-After) before the next try",
    503: "the site is unavailable for now; we wait as long as it asks (Retry-After) before the next try",
}


class PrivateAddressError(OSError):
    """A host resolved to an address sources may not use (loopback, private, link-local)."""


class GuardedResolver(AbstractResolver):
    """Refuses private addresses, so neither a source nor a redirect can reach the internal network."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        private = [r["host"] for r in results if is_private_host(r["host"])]
        if private:
            raise PrivateAddressError(f"{host} resolves to the private address {private[0]}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class Slots:
    """At most ``per_host`` updates per host name, and ``total`` in all.

    The host slot is taken first, so updates queued behind a busy host (a platform with dozens of
    feeds) never hold a global slot that other hosts could use. The connector's own per-host limit
    stays as a backstop for redirects to other hosts.
    """

    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self._per_host))
        self._users: defaultdict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        self._users[host] += 1
        try:
            async with self._hosts[host], self._total:
                yield
        finally:
            self._users[host] -= 1
            if not self._users[host]:  # forget idle hosts, so the map stays as small as the work in flight
                del self._users[host], self._hosts[host]


class Fetcher:
    """Owns the process's one aiohttp session; use as ``async with Fetcher(settings) as fetcher``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.slots = Slots(settings.concurrency, settings.per_host)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.concurrency,
            limit_per_host=s.per_host,
            resolver=None if s.allow_private_networks else GuardedResolver(),
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=min(10.0, s.timeout), sock_read=s.timeout),
            headers={"User-Agent": s.user_agent, "Accept": ACCEPT},
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, source: str, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """GET a feed; raises FetchError with a message a maintainer can act on."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await self._follow(source, url, etag, last_modified, started)
        except TimeoutError as exc:
            raise FetchError(
                source,
                f"no complete answer within {self.settings.timeout:g}s (settings.timeout); the site is slow or down",
            ) from exc
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, PrivateAddressError):
                raise FetchError(source, f"refused: {exc.os_error}; {_PRIVATE_ADVICE}") from exc
            raise FetchError(source, f"cannot resolve the host {exc.host}: check the url's host name") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise FetchError(
                source, f"the TLS certificate of {exc.host} is not valid: {exc.certificate_error}"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise FetchError(
                source, f"cannot connect to {exc.host}:{exc.port}: {exc.strerror or exc.os_error}"
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(source, f"the response was cut off or badly encoded: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(source, f"HTTP request failed: {type(exc).__name__}: {exc}") from exc

    async def _follow(
        self, source: str, url: str, etag: str | None, last_modified: str | None, started: float
    ) -> Response:
        assert self._session is not None, "use Fetcher as an async context manager"
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        moved: str | None = None
        all_permanent = True
        for _hop in range(self.settings.max_redirects + 1):
            self._check_target(source, url)
            async with self._session.get(url, headers=headers, allow_redirects=False) as resp:
                if resp.status in _REDIRECTS and "Location" in resp.headers:
                    target = urljoin(url, resp.headers["Location"])
                    all_permanent = all_permanent and resp.status in _PERMANENT
                    moved = target if all_permanent else moved
                    url = target
                    continue
                elapsed = int((time.monotonic() - started) * 1000)
                if resp.status == 304:
                    return self._response(resp, url, b"", elapsed, moved)
                if resp.status != 200:
                    raise FetchError(source, _status_message(resp.status, resp.reason), resp.status, _hints(resp))
                body = await self._read(source, resp)
                elapsed = int((time.monotonic() - started) * 1000)
                return self._response(resp, url, body, elapsed, moved)
        raise FetchError(
            source,
            f"more than {self.settings.max_redirects} redirects (last to {redact(url)}): a redirect loop?",
        )

    def _check_target(self, source: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(source, f"refused to follow a redirect to a non-web URL ({parts.scheme}:)")
        if not self.settings.allow_private_networks and is_private_host(parts.hostname or ""):
            raise FetchError(source, f"refused: {parts.hostname} is a private address; {_PRIVATE_ADVICE}")

    async def _read(self, source: str, resp: aiohttp.ClientResponse) -> bytes:
        """The decoded body, abandoned as soon as it passes the cap (decompressed bytes count)."""
        cap = self.settings.max_bytes
        declared = resp.content_length
        if declared is not None and declared > cap and not resp.headers.get("Content-Encoding"):
            raise FetchError(source, _too_big(cap))
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                raise FetchError(source, _too_big(cap))
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _response(resp: aiohttp.ClientResponse, url: str, body: bytes, elapsed: int, moved: str | None) -> Response:
        h: Any = resp.headers
        return Response(
            status=resp.status,
            url=url,
            body=body,
            content_type=h.get("Content-Type"),
            etag=h.get("ETag"),
            last_modified=h.get("Last-Modified"),
            elapsed_ms=elapsed,
            permanent_redirect=moved,
            headers=_hints(resp),
        )


def _hints(resp: aiohttp.ClientResponse) -> dict[str, str]:
    return {name: resp.headers[name] for name in _HINT_HEADERS if name in resp.headers}


_PRIVATE_ADVICE = "set settings.allow_private_networks: true only if this source is meant to be internal"


def _too_big(cap: int) -> str:
    return (
        f"the body is larger than {cap / 1_000_000:g} MB (settings.max_bytes); raise it if this feed is really that big"
    )


def _status_message(status: int, reason: str | None) -> str:
    advice = _STATUS_ADVICE.get(status)
    if advice is None:
        advice = "the site has a problem; we will retry" if status >= 500 else "not a feed response"
    return f"HTTP {status} {reason or ''}".rstrip() + f": {advice}"

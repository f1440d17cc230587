"""Shared fixtures: a real feed server on 127.0.0.1, real databases (SQLite and PostgreSQL), config files."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

DATA = Path(__file__).parent / "data"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PG_DSN = os.environ.get("AGGREGATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
}


#: Sizes of the fault routes: big enough that a missing limit would show, small enough for a test run.
SLOW_SECONDS = 10
HUGE_MB = 300
BOMB_MB = 512


@functools.cache
def gzip_bomb(megabytes: int) -> bytes:
    """A gzip member whose body is an RSS prefix and then ``megabytes`` MiB of spaces (a few hundred KB packed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing and CRC
    parts = [packer.compress(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')]
    block = b" " * 2**20
    parts += [packer.compress(block) for _ in range(megabytes)]
    parts.append(packer.flush())
    return b"".join(parts)


@dataclass
class FeedServer:
    """Serves documents by path with ETag/Last-Modified/304 and gzip, plus routes for failures.

    ``/faults/...`` mirror the fault routes of ``../shared/bench/server.py`` (same paths, same behaviour).
    """

    base: str = ""
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    extra_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)  # requests in progress per Host header, for /held
    most_active: dict[str, int] = field(default_factory=dict)
    most_active_total: int = 0

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def put(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "application/rss+xml",
        headers: dict[str, str] | None = None,
    ) -> str:
        self.documents[path.lstrip("/")] = (body.encode() if isinstance(body, str) else body, content_type)
        self.extra_headers[path.lstrip("/")] = headers or {}
        return self.url(path)

    def put_file(self, name: str, path: str | None = None, content_type: str | None = None) -> str:
        file = DATA / name
        return self.put(path or f"feeds/{name}", file.read_bytes(), content_type or CONTENT_TYPES[file.suffix])

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == "/" + path.lstrip("/"))


def _app(server: FeedServer) -> web.Application:
    async def document(request: web.Request) -> web.StreamResponse:
        server.requests.append((request.path, dict(request.headers)))
        found = server.documents.get(request.match_info["path"])
        if found is None:
            raise web.HTTPNotFound(text="no such feed")
        body, content_type = found
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": "Mon, 11 Jan 2021 10:00:00 GMT"}
        if "novalidators" in request.query:
            headers = {}
        headers |= server.extra_headers.get(request.match_info["path"], {})
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        response = web.Response(body=body, headers={**headers, "Content-Type": content_type})
        if "gzip" in request.query:
            response.enable_compression(web.ContentCoding.gzip)
        return response

    async def status(request: web.Request) -> web.Response:
        server.requests.append((request.path, dict(request.headers)))
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def redirect(request: web.Request) -> web.Response:
        server.requests.append((request.path, dict(request.headers)))
        code = int(request.match_info["code"])
        return web.Response(status=code, headers={"Location": "/" + request.match_info["target"]})

    async def redirect_to(request: web.Request) -> web.Response:
        server.requests.append((request.path, dict(request.headers)))
        return web.Response(status=302, headers={"Location": request.query["url"]})

    def logged(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            server.requests.append((request.path, dict(request.headers)))
            return await handler(request)

        return wrapper

    async def drip(request: web.Request) -> web.StreamResponse:
        """A valid feed dripped out over SLOW_SECONDS (Content-Length set, as the bench does)."""
        body = (DATA / "wordpress_id.rss").read_bytes()
        steps = SLOW_SECONDS * 2
        size = -(-len(body) // steps)
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml; charset=UTF-8"})
        response.content_length = len(body)
        await response.prepare(request)
        for start in range(0, len(body), size):
            await response.write(body[start : start + size])
            await asyncio.sleep(0.5)
        return response

    async def huge(request: web.Request) -> web.StreamResponse:
        """Chunked RSS that keeps growing to HUGE_MB and is never closed properly."""
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml; charset=UTF-8"})
        await response.prepare(request)
        await response.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>huge</title>")
        block = b"<item><title>x</title><description>" + b"y" * 65000 + b"</description></item>\n"
        for _ in range(HUGE_MB * 2**20 // len(block)):
            await response.write(block)
        return response

    async def loop(request: web.Request) -> web.Response:
        other = "/faults/redirect-loop" if request.path.endswith("/b") else "/faults/redirect-loop/b"
        raise web.HTTPFound(other)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/feeds/moved-here.rss")

    def fixed(status: int, file: str | None, content_type: str, **headers: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            body = (DATA / file).read_bytes() if file else b"nope"
            return web.Response(status=status, body=body, headers={"Content-Type": content_type, **headers})

        return handler

    async def gzipped_bomb(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(gzip_bomb, BOMB_MB)
        return web.Response(body=body, headers={"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})

    async def held(request: web.Request) -> web.Response:
        """Answers after 0.3 s, counting how many requests each host has in progress meanwhile."""
        host = request.headers.get("Host", "").split(":")[0]
        server.active[host] = server.active.get(host, 0) + 1
        server.most_active[host] = max(server.most_active.get(host, 0), server.active[host])
        server.most_active_total = max(server.most_active_total, sum(server.active.values()))
        try:
            await asyncio.sleep(0.3)
        finally:
            server.active[host] -= 1
        return web.Response(body=(DATA / "rdf.rdf").read_bytes(), headers={"Content-Type": "application/rdf+xml"})

    faults: dict[str, Handler] = {
        "500": fixed(500, None, "text/html"),
        "429": fixed(429, None, "text/plain", **{"Retry-After": "120"}),
        "slow": drip,
        "huge": huge,
        "redirect-loop": loop,
        "redirect-loop/b": loop,
        "301": moved,
        "notfeed": fixed(200, "page.html", "text/html; charset=UTF-8"),
        "badxml": fixed(200, "badxml.rss", "application/rss+xml; charset=UTF-8"),
        "bomb": fixed(200, "entity_bomb.rss", "application/rss+xml"),
        "gzipbomb": gzipped_bomb,
    }

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{code}/{target:.*}", redirect)
    app.router.add_get("/redirect-to", redirect_to)
    for name, handler in faults.items():
        app.router.add_get(f"/faults/{name}", logged(handler))
    app.router.add_get("/held/{n}", logged(held))
    app.router.add_get("/{path:.*}", document)
    return app


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    runner = web.AppRunner(_app(server), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    server.put_file("wordpress_id.rss", "feeds/moved-here.rss")  # where /faults/301 points
    yield server
    await runner.cleanup()


async def _pg_database() -> tuple[str, Callable[[], object]]:
    name = f"aggregator_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    async def drop() -> None:
        admin = await asyncpg.connect(PG_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    url = PG_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    return url, drop


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every test using this runs on SQLite and on PostgreSQL (a fresh database each time)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url, drop = await _pg_database()
    yield url
    await drop()  # type: ignore[misc]


TOPICS_YAML = """\
topics:
  - name: trump
    title: Donald Trump
    match:
      any: ["Trump"]
  - name: parler
    title: Parler
    match:
      any: ["Parler"]
  - name: snapchat
    title: Snapchat
    match:
      any: ["Snapchat"]
"""


def write_config(folder: Path, sources: dict[str, str], database: str | None = None, extra: str = "") -> Path:
    """A feeds.yaml listing ``sources`` (name -> url) with three topics; ``extra`` settings lines win."""
    settings = {
        "output_dir": "output",
        "database": database or "aggregator.db",
        "base_url": "https://feeds.example/",
        "allow_private_networks": "true",
        "timeout": "3s",
        "per_host": "4",
    }
    for line in extra.splitlines():
        key, _, value = line.partition(":")
        settings[key.strip()] = value.strip()
    lines = ["settings:"] + [f"  {key}: {value}" for key, value in settings.items()]
    lines.append("sources:" if sources else "sources: []")
    for name, url in sources.items():
        lines += [f"  - name: {name}", f'    url: "{url}"']
    path = folder / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n" + TOPICS_YAML, encoding="utf-8")
    return path

"""Shared fixtures: a real feed server on 127.0.0.1, real databases (SQLite and PostgreSQL), config files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

DATA = Path(__file__).parent / "data"
PG_DSN = os.environ.get("AGGREGATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
}


@dataclass
class FeedServer:
    """Serves documents by path with ETag/Last-Modified/304 and gzip, plus routes for failures."""

    base: str = ""
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def put(self, path: str, body: bytes | str, content_type: str = "application/rss+xml") -> str:
        self.documents[path.lstrip("/")] = (body.encode() if isinstance(body, str) else body, content_type)
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

    async def slow(request: web.Request) -> web.StreamResponse:
        server.requests.append((request.path, dict(request.headers)))
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await response.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>slow</title>")
        for _ in range(60):
            await asyncio.sleep(0.5)
            await response.write(b" ")
        return response

    async def big(request: web.Request) -> web.StreamResponse:
        server.requests.append((request.path, dict(request.headers)))
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await response.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>big</title>")
        for _ in range(200):
            await response.write(b"<!-- " + b"x" * 65536 + b" -->")
        return response

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{code}/{target:.*}", redirect)
    app.router.add_get("/redirect-to", redirect_to)
    app.router.add_get("/slow", slow)
    app.router.add_get("/big", big)
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
    """A feeds.yaml listing ``sources`` (name -> url) with three topics."""
    lines = [
        "settings:",
        "  output_dir: output",
        f"  database: {database or 'aggregator.db'}",
        "  base_url: https://feeds.example/",
        "  allow_private_networks: true",
        "  timeout: 3s",
        "  per_host: 4",
    ]
    lines += [f"  {line}" for line in extra.splitlines()]
    lines.append("sources:" if sources else "sources: []")
    for name, url in sources.items():
        lines += [f"  - name: {name}", f'    url: "{url}"']
    path = folder / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n" + TOPICS_YAML, encoding="utf-8")
    return path

"""Serving the output folder over a real loopback HTTP server."""

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from aggregator import serve


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    output = tmp_path / "output"
    (output / "trump").mkdir(parents=True)
    (output / "trump" / "rss.xml").write_bytes(b"<rss version='2.0'></rss>" * 100)
    (output / "index.html").write_text("<!doctype html><title>x</title>")
    (tmp_path / "secret.txt").write_text("do not serve")
    (output / "link").symlink_to(tmp_path / "secret.txt")
    runner = web.AppRunner(serve.app(output))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", output
    await runner.cleanup()


async def test_feeds_have_their_content_type_etag_and_304(site: tuple[str, Path]) -> None:
    base, _ = site
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/trump/rss.xml") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert response.headers.get("Content-Encoding") == "gzip"
            etag = response.headers["ETag"]
        async with session.get(f"{base}/trump/rss.xml", headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        async with session.get(f"{base}/") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/%2e%2e/secret.txt", "/trump/..%2f..%2fsecret.txt", "/link", "/nope"]
)
async def test_nothing_outside_the_output_folder(site: tuple[str, Path], path: str) -> None:
    base, _ = site
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        assert response.status == 404
        assert "do not serve" not in await response.text()


async def test_healthz(site: tuple[str, Path]) -> None:
    base, _ = site
    async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as response:
        assert response.status == 200

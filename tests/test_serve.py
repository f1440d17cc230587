"""The web app over a real loopback server: files, validators, gzip, CORS, safety, health and metrics."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest

from aggregator import config, serve
from aggregator.metrics import Metrics
from aggregator.service import Service
from aggregator.store import Store
from tests.conftest import FeedServer, write_config


@dataclass
class Served:
    base: str
    output: Path
    path: Path  # feeds.yaml
    store: Store
    metrics: Metrics


@pytest.fixture
async def served(tmp_path: Path, feed_server: FeedServer) -> AsyncIterator[Served]:
    path = write_config(
        tmp_path,
        {"wire": feed_server.put_file("rdf.rdf"), "gone": feed_server.url("status/404")},
        extra="default_interval: 15m",
    )
    loaded = config.load(path)
    output = loaded.settings.output_dir
    metrics = Metrics()
    async with Store(loaded.settings.database_url) as store:
        runner = await serve.start(serve.Site(lambda: loaded.config, store, metrics, str(path)), "127.0.0.1", 0)
        yield Served(f"http://127.0.0.1:{runner.addresses[0][1]}", output, path, store, metrics)
        await runner.cleanup()


async def publish(served: Served) -> None:
    async with Service(config.load(served.path), served.metrics) as service:
        await service.once()


async def test_feeds_have_their_content_type_validators_and_cache_lifetime(served: Served) -> None:
    await publish(served)
    expected = {
        "parler/rss.xml": "application/rss+xml; charset=utf-8",
        "parler/atom.xml": "application/atom+xml; charset=utf-8",
        "parler/feed.json": "application/feed+json; charset=utf-8",
        "parler/index.html": "text/html; charset=utf-8",
        "topics.opml": "text/x-opml; charset=utf-8",
    }
    async with aiohttp.ClientSession() as session:
        for name, content_type in expected.items():
            async with session.get(f"{served.base}/{name}") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == content_type
                assert response.headers["Cache-Control"] == "public, max-age=900"  # the 15m interval
                assert response.headers["ETag"].startswith('"')
                assert response.headers["Last-Modified"].endswith(" GMT")
                assert await response.read() == (served.output / name).read_bytes()


async def test_conditional_requests_get_304(served: Served) -> None:
    await publish(served)
    url = f"{served.base}/parler/rss.xml"
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            gz_etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
        async with session.get(url, headers={"Accept-Encoding": "identity"}) as response:
            assert "Content-Encoding" not in response.headers
            etag = response.headers["ETag"]
        assert etag != gz_etag  # two representations, two validators
        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": f'W/{gz_etag}, "other"'},
            {"If-Modified-Since": modified},
        ):
            async with session.get(url, headers=headers) as response:
                assert response.status == 304, headers
                assert await response.read() == b""
        stale = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
        async with session.get(url, headers={"If-Modified-Since": stale}) as response:
            assert response.status == 200
        async with session.get(url, headers={"If-None-Match": '"nope"', "If-Modified-Since": modified}) as response:
            assert response.status == 200  # If-None-Match decides when both are sent


async def test_gzip_only_for_clients_that_accept_it(served: Served) -> None:
    await publish(served)
    url = f"{served.base}/parler/feed.json"
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for accept, gzipped in (("gzip, deflate", True), ("gzip;q=0", False), ("br", False), ("*", True)):
            async with session.get(url, headers={"Accept-Encoding": accept}) as response:
                assert (response.headers.get("Content-Encoding") == "gzip") is gzipped, accept
                assert response.headers["Vary"] == "Accept-Encoding"


async def test_head_and_cross_origin_headers(served: Served) -> None:
    await publish(served)
    async with aiohttp.ClientSession() as session:
        async with session.head(f"{served.base}/parler/atom.xml") as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert await response.read() == b""
        async with session.get(f"{served.base}/index.html") as response:
            assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/parler/..%2f..%2fsecret.txt",
        "/parler%2f..%2f..%2fsecret.txt",
        "/link",
        "/.hidden",
        "/parler/.rss.xml.tmp",
        "/nope",
        "/parler\\..\\..\\secret.txt",
    ],
)
async def test_nothing_outside_the_output_folder(served: Served, path: str) -> None:
    await publish(served)
    (served.output.parent / "secret.txt").write_text("do not serve")
    (served.output / "link").symlink_to(served.output.parent / "secret.txt")
    (served.output / ".hidden").write_text("do not serve")
    (served.output / "parler" / ".rss.xml.tmp").write_text("do not serve")
    async with aiohttp.ClientSession() as session, session.get(served.base + path) as response:
        assert response.status == 404
        assert "do not serve" not in await response.text()


async def test_health_and_readiness(served: Served) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{served.base}/healthz") as response:
            assert response.status == 200
        async with session.get(f"{served.base}/readyz") as response:
            assert response.status == 503  # nothing published yet
            assert (await response.json())["published"] == "not yet"
        await publish(served)
        async with session.get(f"{served.base}/readyz") as response:
            report = await response.json()
            assert response.status == 200, report
            assert report["ready"] is True
            assert report["store"] == "ok"
            assert 0 <= report["last_publish_age_s"] < 60


async def test_metrics_in_prometheus_format(served: Served) -> None:
    await publish(served)
    async with aiohttp.ClientSession() as session, session.get(f"{served.base}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    assert 'aggregator_fetches_total{result="ok"} 1.0' in text
    assert 'aggregator_fetches_total{result="error"} 1.0' in text
    assert 'aggregator_items_stored_total{kind="new"} 2.0' in text
    assert "aggregator_publish_duration_seconds_count 1.0" in text
    assert 'aggregator_source_consecutive_failures{source="gone"} 1.0' in text
    assert 'aggregator_source_consecutive_failures{source="wire"} 0.0' in text
    assert "aggregator_items 2.0" in text


async def test_shutdown_lets_in_flight_responses_finish(tmp_path: Path) -> None:
    """SIGTERM while a slow client downloads a big file: the download completes, then the process exits."""
    write_config(tmp_path, {})
    (tmp_path / "output").mkdir()
    big = os.urandom(8 * 2**20)
    (tmp_path / "output" / "big.bin").write_bytes(big)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "serve", "--port", str(port), cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.1)
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
        await writer.drain()
        received = await reader.read(65536)  # the response has started...
        process.send_signal(signal.SIGTERM)  # ...when the server is told to stop
        while chunk := await reader.read(65536):
            received += chunk
            await asyncio.sleep(0.001)  # a slow reader
        writer.close()
    finally:
        rc = await asyncio.wait_for(process.wait(), timeout=30)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == big
    assert rc == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

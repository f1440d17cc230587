"""``aggregator run`` as a real process: schedules, live reload of feeds.yaml, clean stop on SIGTERM."""

import asyncio
import json
import signal
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import FeedServer, write_config

pytestmark = pytest.mark.slow


async def until(check: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.2)


def items(path: Path) -> list[str]:
    try:
        return [i["title"] for i in json.loads(path.read_text())["items"]]
    except (OSError, ValueError):
        return []


async def test_run_polls_reloads_and_stops_cleanly(feed_server: FeedServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"wire": feed_server.put_file("rdf.rdf")}, extra="default_interval: 2s")
    log = tmp_path / "run.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aggregator", "run", cwd=tmp_path, stderr=stderr, stdout=asyncio.subprocess.DEVNULL
        )
        try:
            parler = tmp_path / "output/parler/feed.json"
            await until(lambda: items(parler) == ["Parler returns online"])
            await until(lambda: feed_server.hits("feeds/rdf.rdf") >= 2)  # polled again on its interval

            # a new source is picked up without a restart
            text = config.read_text().replace(
                "sources:\n", f'sources:\n  - name: cafe\n    url: "{feed_server.put_file("latin1.rss")}"\n'
            )
            config.write_text(text)
            trump = tmp_path / "output/trump/feed.json"
            await until(lambda: items(trump) == ["La aplicación de Trump llega a España"])

            # an invalid edit is reported and the service keeps the last good config
            config.write_text(text.replace("default_interval: 2s", "default_interval: often"))
            await until(lambda: "config.invalid" in log.read_text())
            hits = feed_server.hits("feeds/latin1.rss")
            await until(lambda: feed_server.hits("feeds/latin1.rss") > hits)
            assert process.returncode is None
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(process.wait(), timeout=20)
    text = log.read_text()
    assert rc == 0, text
    assert "run.stopped" in text
    assert "Traceback" not in text
    assert "keeping the last good config" in text


async def test_run_follows_each_sources_own_schedule(feed_server: FeedServer, tmp_path: Path) -> None:
    """A 429 slows that feed only; a 301 is followed from then on and logged once; health is in the log."""
    feed_server.put_file("rdf.rdf", "feeds/new-home.rdf")
    sources = {
        "limited": feed_server.url("faults/429"),
        "neighbour": feed_server.put_file("atom_xmlbase.atom"),
        "moved": feed_server.url("redirect/301/feeds/new-home.rdf"),
    }
    write_config(tmp_path, sources, extra="default_interval: 1s")
    log = tmp_path / "run.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aggregator", "run", cwd=tmp_path, stderr=stderr, stdout=asyncio.subprocess.DEVNULL
        )
        try:
            await until(lambda: feed_server.hits("feeds/atom_xmlbase.atom") >= 4)
            await until(lambda: feed_server.hits("feeds/new-home.rdf") >= 3)
        finally:
            process.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(process.wait(), timeout=20)
    text = log.read_text()
    assert rc == 0, text
    assert feed_server.hits("faults/429") == 1  # Retry-After: 120 holds it back...
    assert feed_server.hits("redirect/301/feeds/new-home.rdf") == 1  # ...and the move is remembered
    assert text.count("source.moved") == 1
    assert 'next_reason="Retry-After 2m"' in text
    assert "failures=1" in text
    assert "health sources=3 failing=1 failing_sources=limited moved=moved" in text

    status = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "status", "--json", cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await status.communicate()
    states = {s["name"]: s for s in json.loads(out)}
    limited = states["limited"]
    assert limited["next_reason"] == "Retry-After 2m"
    assert datetime.fromisoformat(limited["next_due"]) - datetime.fromisoformat(limited["last_attempt"]) >= timedelta(
        seconds=120
    )
    assert states["neighbour"]["next_reason"] == "interval"
    assert states["moved"]["moved_to"] == feed_server.url("feeds/new-home.rdf")


async def test_run_serves_output_health_and_metrics(feed_server: FeedServer, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write_config(tmp_path, {"wire": feed_server.put_file("rdf.rdf")}, extra=f"default_interval: 1s\nport: {port}")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "run", "--serve", cwd=tmp_path,
        stderr=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(f"{base}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            async with asyncio.timeout(30):
                while not await ready():
                    await asyncio.sleep(0.2)
            await until(lambda: feed_server.hits("feeds/rdf.rdf") >= 2)
            await until(lambda: "Parler returns online" in (tmp_path / "output/parler/embed.js").read_text())
            async with session.get(f"{base}/metrics") as response:
                metrics = await response.text()
            async with session.get(f"{base}/parler/embed.js") as response:
                assert response.status == 200
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                assert "Parler returns online" in await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(process.wait(), timeout=20)
    assert rc == 0
    assert 'aggregator_fetches_total{result="ok"} 1.0' in metrics
    assert 'aggregator_fetches_total{result="not_modified"}' in metrics
    assert 'aggregator_source_consecutive_failures{source="wire"} 0.0' in metrics

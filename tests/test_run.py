"""``aggregator run`` as a real process: schedules, live reload of feeds.yaml, clean stop on SIGTERM."""

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

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

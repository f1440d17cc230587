"""WebSub: feeds declare the hub, changed topics are pinged, failed pings are retried with the next publish."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import feedparser
import pytest
from aiohttp import web

from aggregator import config
from aggregator.service import Service
from tests.conftest import FeedServer, write_config


@dataclass
class Hub:
    url: str = ""
    status: int = 204
    pings: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    recorder = Hub()

    async def publish(request: web.Request) -> web.Response:
        form = await request.post()
        recorder.pings.append({k: str(v) for k, v in form.items()})
        return web.Response(status=recorder.status)

    application = web.Application()
    application.router.add_post("/hub", publish)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recorder.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hub"
    yield recorder
    await runner.cleanup()


async def once(path: Path) -> None:
    async with Service(config.load(path)) as service:
        await service.once()


def pinged(hub: Hub) -> set[str]:
    assert all(p["hub.mode"] == "publish" for p in hub.pings)
    return {p["hub.url"] for p in hub.pings}


async def test_hub_is_declared_pinged_for_changes_and_failed_pings_retried(
    hub: Hub, feed_server: FeedServer, tmp_path: Path
) -> None:
    path = write_config(tmp_path, {"wire": feed_server.put_file("rdf.rdf")}, extra=f"websub_hub: {hub.url}")
    await once(path)
    feeds = {f"https://feeds.example/{t}/{n}" for t in ("trump", "parler", "snapchat") for n in
             ("rss.xml", "atom.xml", "feed.json")}  # fmt: skip
    assert pinged(hub) == feeds  # first publish: every topic is new

    output = tmp_path / "output" / "parler"
    for name in ("rss.xml", "atom.xml"):
        links = feedparser.parse((output / name).read_bytes()).feed.links
        assert {"rel": "hub", "href": hub.url} in [{"rel": x["rel"], "href": x["href"]} for x in links]
        assert "https://feeds.example/parler/" + name in [x["href"] for x in links if x["rel"] == "self"]
    assert json.loads((output / "feed.json").read_text())["hubs"] == [{"type": "WebSub", "url": hub.url}]

    hub.pings.clear()
    await once(path)
    assert hub.pings == []  # nothing changed, nothing to tell

    hub.status = 503  # the hub is down when parler changes
    before = (output / "rss.xml").read_bytes().count(b"<item>")
    feed_server.put_file("wordpress_id.rss", "feeds/rdf.rdf")
    await once(path)
    parler = {f"https://feeds.example/parler/{n}" for n in ("rss.xml", "atom.xml", "feed.json")}
    assert parler <= pinged(hub)
    assert (output / "rss.xml").read_bytes().count(b"<item>") > before  # published all the same

    hub.status, hub.pings = 204, []
    await once(path)  # nothing changed at the sources: the failed pings go out again
    assert parler <= pinged(hub)
    hub.pings.clear()
    await once(path)
    assert hub.pings == []  # and only once


async def test_without_a_hub_nothing_is_declared(feed_server: FeedServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, {"wire": feed_server.put_file("rdf.rdf")})
    await once(path)
    rss = (tmp_path / "output" / "parler" / "rss.xml").read_bytes()
    assert b'rel="hub"' not in rss
    assert "hubs" not in json.loads((tmp_path / "output" / "parler" / "feed.json").read_text())

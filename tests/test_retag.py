"""When topic rules change, stored items are tagged again and the affected topics republished."""

import json
from pathlib import Path

from aggregator import config
from aggregator.service import Service
from tests.conftest import FeedServer, write_config


def titles(output: Path, topic: str) -> list[str]:
    return [item["title"] for item in json.loads((output / topic / "feed.json").read_text())["items"]]


async def once(path: Path) -> None:
    async with Service(config.load(path)) as service:
        await service.once()


async def test_edited_and_added_topics_apply_to_stored_items(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    path = write_config(tmp_path, {"kabartekno": feed_server.put_file("wordpress_id.rss")}, database=database_url)
    await once(path)
    output = tmp_path / "output"
    parler = titles(output, "parler")
    assert "Amazon Web Services Tendang Parler dari Server" in parler
    assert not (output / "twitter").exists()

    text = path.read_text()
    text = text.replace('      any: ["Parler"]\n', '      any: ["Parler"]\n      none: ["Amazon"]\n')
    text += '  - name: twitter\n    title: Twitter\n    match:\n      any: ["twitter"]\n'
    path.write_text(text)
    await once(path)  # the source answers 304: only re-tagging can change the topics
    assert "Amazon Web Services Tendang Parler dari Server" not in titles(output, "parler")
    assert "Twitter Blokir Permanen Akun Donald Trump" in titles(output, "twitter")
    assert feed_server.hits("feeds/wordpress_id.rss") == 2

    before = (output / "twitter" / "feed.json").read_bytes()
    await once(path)  # rules unchanged: no second pass, same bytes
    assert (output / "twitter" / "feed.json").read_bytes() == before


async def test_a_dead_worker_costs_speed_not_tags(feed_server: FeedServer, tmp_path: Path) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from aggregator import retag

    path = write_config(tmp_path, {"kabartekno": feed_server.put_file("wordpress_id.rss")})
    await once(path)
    path.write_text(path.read_text() + '  - name: twitter\n    title: Twitter\n    match:\n      any: ["twitter"]\n')

    async def broken(*_args: object) -> list[tuple[str, ...]]:
        raise BrokenProcessPool("a worker was killed")

    loaded = config.load(path)
    async with Service(loaded) as service:
        report = await retag.retag(service.store, loaded.config, run=broken)
    assert report.items == 6
    assert report.topics == {"twitter"}

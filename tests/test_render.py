"""Renderers against golden files; every feed re-parsed by feedparser must be well-formed."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from aggregator import render
from aggregator.config import Settings, Topic
from aggregator.models import Item, PublishedItem

GOLDEN = Path(__file__).parent / "data" / "golden"
UPDATE = os.environ.get("AGGREGATOR_UPDATE_GOLDEN") == "1"


def make_item(source: str, key: str, title: str, link: str | None, when: datetime | None, **extra: object) -> Item:
    fields: dict[str, object] = {
        "source": source, "key": key, "guid": key, "link": link, "cluster": link or f"{source}:{key}",
        "title": title, "summary": "", "content": "<p>Body of the story &amp; more.</p>", "author": None,
        "categories": (), "published": when, "updated": when, "topics": ("trump",), "content_hash": key,
    }  # fmt: skip
    fields.update(extra)
    return Item(**fields)  # type: ignore[arg-type]


SEEN = datetime(2021, 1, 12, tzinfo=UTC)
ITEMS = [
    PublishedItem(
        make_item(
            "kabartekno", "p1", "AWS Tendang Parler & Trump", "https://kabartekno.example/aws-parler/",
            datetime(2021, 1, 11, 9, 12, 44, tzinfo=UTC), author="Rina Kartika", categories=("Internet", "Parler"),
            summary="<p>Ringkasan <b>singkat</b>.</p>",
        ),
        SEEN,
        also=(make_item("sinyal", "s1", "AWS Tendang Parler", "https://sinyal.example/aws", None),),
    ),
    PublishedItem(make_item("kabartekno", "p2", "Tanpa tanggal", None, None, content=""), SEEN),
]  # fmt: skip
SOURCES = {
    "kabartekno": render.SourceInfo("kabartekno", "KabarTekno", "https://kabartekno.example/",
                                    "https://kabartekno.example/feed/", "id"),
    "sinyal": render.SourceInfo("sinyal", "Sinyal <Digital>", "https://sinyal.example/",
                                "https://sinyal.example/rss", "id"),
}  # fmt: skip
TOPIC = Topic.model_validate({"name": "trump", "title": "Donald Trump", "match": {"any": ["Trump"]}})
SETTINGS = Settings.model_validate({"base_url": "https://feeds.example/pub", "title": "Kabar & Topik"})
VIEW = render.TopicView(TOPIC, SETTINGS, ITEMS, SOURCES)


def golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from its golden file (AGGREGATOR_UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("name", sorted(render.RENDERERS))
def test_topic_files_match_golden(name: str) -> None:
    golden(f"trump-{name}", render.RENDERERS[name](VIEW))


def test_site_files_match_golden() -> None:
    golden("index.html", render.site_index(SETTINGS, [TOPIC]))
    golden("topics.opml", render.opml(SETTINGS, [TOPIC]))


def test_rendering_is_deterministic() -> None:
    for renderer in render.RENDERERS.values():
        assert renderer(VIEW) == renderer(render.TopicView(TOPIC, SETTINGS, list(ITEMS), dict(SOURCES)))


@pytest.mark.parametrize(("name", "version"), [("rss.xml", "rss20"), ("atom.xml", "atom10")])
def test_feeds_reparse_cleanly(name: str, version: str) -> None:
    parsed = feedparser.parse(render.RENDERERS[name](VIEW))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == version
    assert parsed.feed.title == "Donald Trump"
    assert [e.title for e in parsed.entries] == ["AWS Tendang Parler & Trump", "Tanpa tanggal"]
    first = parsed.entries[0]
    assert first.link == "https://kabartekno.example/aws-parler/"
    assert first.id == render.item_id(ITEMS[0])
    assert first.published_parsed[:6] == (2021, 1, 11, 9, 12, 44)
    assert "Sinyal &lt;Digital&gt;" in first.content[0].value  # credit, escaped
    assert any(link.get("rel") == "self" and link.href == f"https://feeds.example/pub/trump/{name}"
               for link in parsed.feed.links)  # fmt: skip
    # an undated item carries the time we first saw it, not "now"
    assert parsed.entries[1].published_parsed[:3] == (2021, 1, 12)


def test_json_feed_1_1() -> None:
    doc = json.loads(render.json_feed(VIEW))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["feed_url"] == "https://feeds.example/pub/trump/feed.json"
    assert doc["language"] == "id"
    first = doc["items"][0]
    assert first["id"] == render.item_id(ITEMS[0])
    assert first["url"] == "https://kabartekno.example/aws-parler/"
    assert first["date_published"] == "2021-01-11T09:12:44Z"
    assert first["authors"] == [{"name": "Rina Kartika"}]
    assert first["tags"] == ["Internet", "Parler"]
    assert first["summary"] == "Ringkasan singkat."
    also = [{"name": "Sinyal <Digital>", "url": "https://sinyal.example/aws"}]
    assert first["_source"] == {"name": "KabarTekno", "url": "https://kabartekno.example/", "also": also}
    assert all(isinstance(i["id"], str) for i in doc["items"])
    assert all("content_html" in i or "content_text" in i for i in doc["items"])


def test_ids_are_stable_whichever_copy_is_credited() -> None:
    same_cluster = PublishedItem(make_item("sinyal", "s1", "x", "https://sinyal.example/aws", None,
                                           cluster=ITEMS[0].item.cluster), SEEN)  # fmt: skip
    assert render.item_id(same_cluster) == render.item_id(ITEMS[0])


def test_topic_page_escapes_titles_and_keeps_only_sanitised_html() -> None:
    page = render.topic_page(VIEW).decode()
    assert "AWS Tendang Parler &amp; Trump" in page
    assert "Sinyal &lt;Digital&gt;" in page
    assert '<link rel="alternate" type="application/atom+xml"' in page
    assert "<p>Ringkasan <b>singkat</b>.</p>" in page

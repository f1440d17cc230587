"""The store on SQLite and on PostgreSQL: idempotent upserts, updates, clusters, state."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.ext.asyncio import create_async_engine

from aggregator import dedupe
from aggregator.models import Item, SourceState
from aggregator.store import Store, sources

T0 = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)
SEEN = datetime(2021, 1, 12, tzinfo=UTC)


def item(source: str, key: str, cluster: str, topics: tuple[str, ...] = ("trump",), hours: int = 0) -> Item:
    when = T0 + timedelta(hours=hours)
    return Item(
        source=source, key=key, guid=key, link=f"https://{cluster}", cluster=cluster, title=f"{source} {key}",
        summary="<p>s</p>", content="", author="A", categories=("x", "y"), published=when, updated=when,
        topics=topics, content_hash=f"{source}{key}",
    )  # fmt: skip


async def test_storing_twice_changes_nothing(database_url: str) -> None:
    async with Store(database_url) as store:
        batch = [item("a", "1", "ex.com/1"), item("a", "2", "ex.com/2", ("parler",))]
        first = await store.store_items("a", batch, SEEN)
        assert (first.new, first.updated) == (2, 0)
        assert first.topics == {"trump", "parler"}
        again = await store.store_items("a", batch, SEEN)
        assert (again.new, again.updated, again.topics) == (0, 0, frozenset())
        assert await store.item_count() == 2


async def test_changed_content_updates_in_place_and_retags(database_url: str) -> None:
    async with Store(database_url) as store:
        original = item("a", "1", "ex.com/1", ("trump",))
        await store.store_items("a", [original], SEEN)
        edited = replace(original, title="edited", topics=("parler",), content_hash="new")
        result = await store.store_items("a", [edited], SEEN + timedelta(days=1))
        assert (result.new, result.updated) == (0, 1)
        assert result.topics == {"trump", "parler"}  # leaves one topic, joins another
        assert await store.item_count() == 1
        assert await store.topic_items("trump", 10) == []
        [published] = await store.topic_items("parler", 10)
        assert published.item.title == "edited"
        assert published.first_seen == SEEN  # first seen is kept across edits


async def test_one_story_from_two_sources_is_published_once(database_url: str) -> None:
    async with Store(database_url) as store:
        await store.store_items("late", [item("late", "x", "ex.com/story", hours=3)], SEEN)
        result = await store.store_items("early", [item("early", "y", "ex.com/story", hours=1)], SEEN)
        assert result.topics == {"trump"}
        [story] = await store.topic_items("trump", 10)
        assert story.item.source == "early"  # earliest published is credited
        assert [o.source for o in story.also] == ["late"]
        assert story.item.published is not None
        assert story.item.published.tzinfo is UTC
        assert story.item.categories == ("x", "y")


async def test_topic_items_newest_first_and_limited(database_url: str) -> None:
    async with Store(database_url) as store:
        await store.store_items("a", [item("a", str(h), f"ex.com/{h}", hours=h) for h in range(5)], SEEN)
        stories = await store.topic_items("trump", 3)
        assert [s.item.key for s in stories] == ["4", "3", "2"]


async def test_states_round_trip(database_url: str) -> None:
    async with Store(database_url) as store:
        state = SourceState("a", url="https://a.example/feed", etag='"x"', last_attempt=T0, next_due=SEEN,
                            consecutive_failures=2, error="HTTP 500")  # fmt: skip
        await store.save_states([state])
        await store.save_states([replace(state, etag='"y"')])
        await store.store_items("a", [item("a", "1", "ex.com/1")], SEEN)
        states = await store.states()
        assert states["a"].etag == '"y"'
        assert states["a"].last_attempt == T0
        assert states["a"].consecutive_failures == 2
        assert states["a"].items_total == 1
        assert await store.state("a") == replace(states["a"], items_total=0)
        assert await store.state("missing") is None


async def test_fingerprints(database_url: str) -> None:
    async with Store(database_url) as store:
        await store.set_topic_fingerprints({"a": "1", "b": "2"})
        await store.set_topic_fingerprints({"a": "3"})
        assert await store.topic_fingerprints() == {"a": "3", "b": "2"}


async def test_huge_guids_and_links_are_stored(database_url: str) -> None:
    from aggregator import dedupe

    key = dedupe.item_key("g" * 10_000, None, "t", None)
    cluster = dedupe.cluster_key("a", key, "example.com/" + "p" * 10_000)
    async with Store(database_url) as store:
        huge = replace(item("a", key, cluster), title="t" * 100_000, content_hash="h" * 40)
        result = await store.store_items("a", [huge], SEEN)
        assert result.new == 1


async def test_control_characters_from_a_feed_are_stored(database_url: str) -> None:
    from pathlib import Path

    from aggregator.parse import parse_body
    from aggregator.tag import RuleSpec

    body = (Path(__file__).parent / "data" / "control_chars.rss").read_bytes()
    feed, error = parse_body(body, "https://nul.example/feed", None, "nul", (), (RuleSpec("trump", any=("Trump",)),))
    assert error is None
    assert feed is not None
    [parsed] = feed.items
    assert (parsed.title, parsed.author, parsed.categories) == ("Trump and nul", "AB", ("Cat",))
    assert parsed.guid is not None
    assert parsed.guid.endswith("nul-1")
    async with Store(database_url) as store:
        assert (await store.store_items("nul", feed.items, SEEN)).new == 1
        [story] = await store.topic_items("trump", 5)
        assert "\x00" not in story.item.summary + story.item.content


async def test_a_database_from_the_previous_release_gains_the_new_columns(database_url: str) -> None:
    """Release 0.1 had no fetch_url, next_reason or feed_ttl; opening it adds them and keeps the rows."""
    old = MetaData()
    kept = [c for c in sources.columns if c.name not in ("fetch_url", "next_reason", "feed_ttl")]
    Table("sources", old, *(Column(c.name, c.type, primary_key=c.primary_key) for c in kept))
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(old.create_all)
        await conn.execute(
            text(
                "INSERT INTO sources (name, url, etag, consecutive_failures, items_new, items_updated, bytes, ms) "
                "VALUES ('a', 'https://a.example/feed', '\"v1\"', 2, 0, 0, 0, 0)"
            )
        )
    await engine.dispose()
    async with Store(database_url) as store:
        state = await store.state("a")
        assert state is not None
        assert (state.etag, state.consecutive_failures, state.fetch_url) == ('"v1"', 2, None)
        await store.save_states([replace(state, fetch_url="https://b.example/feed", feed_ttl=3600.0)])
        again = await store.state("a")
        assert again is not None
        assert (again.fetch_url, again.feed_ttl) == ("https://b.example/feed", 3600.0)


async def test_a_syndicated_copy_joins_the_story_it_copies(database_url: str) -> None:
    text = (
        "Kementerian Kominfo meminta platform media sosial menindak akun penyebar hoaks menjelang pemilu "
        "dalam rapat koordinasi di Jakarta pada Senin pagi bersama perwakilan Twitter dan TikTok."
    )

    def story(source: str, key: str, title: str, hours: int) -> Item:
        base = item(source, key, f"{source}.example/{key}", hours=hours)
        title_key, lead_key = dedupe.near_keys(title, text)
        return replace(base, title=title, content=f"<p>{text}</p>", title_key=title_key, lead_key=lead_key)

    async with Store(database_url) as store:
        await store.store_items("a", [story("a", "1", "Kominfo Minta Platform Tindak Akun Hoaks", 0)], SEEN)
        copy = story("b", "9", "BREAKING: Kominfo Minta Platform Tindak Akun Hoaks", 2)
        await store.store_items("b", [copy], SEEN)
        later = story("c", "5", "Kominfo Minta Platform Tindak Akun Hoaks", 24 * 5)  # another story, days later
        await store.store_items("c", [later], SEEN)
        published = await store.topic_items("trump", 10)
    assert [(p.item.source, [o.source for o in p.also]) for p in published] == [("c", []), ("a", ["b"])]

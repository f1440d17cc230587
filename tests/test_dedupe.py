from dataclasses import replace
from datetime import UTC, datetime

from aggregator import dedupe
from aggregator.models import Item

T0 = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)


def item(key: str, source: str = "a", published: datetime | None = T0, updated: datetime | None = None) -> Item:
    return Item(source, key, key, None, key, "t", "", "", None, (), published, updated or published, (), key)


def test_identity_prefers_guid_then_link_then_title_and_date() -> None:
    assert dedupe.item_key("guid-1", "example.com/a", "T", T0) == "guid-1"
    assert dedupe.item_key(None, "example.com/a", "T", T0) == "example.com/a"
    by_title = dedupe.item_key(None, None, "T", T0)
    assert by_title.startswith("sha1:")
    assert by_title == dedupe.item_key("  ", None, "T", T0)
    assert by_title != dedupe.item_key(None, None, "T", None)


def test_repeats_in_one_feed_keep_the_freshest_copy() -> None:
    old = item("x")
    new = replace(item("x", updated=datetime(2021, 1, 12, tzinfo=UTC)), title="new")
    other = item("y")
    assert dedupe.collapse_repeats([old, other, new]) == [new, other]


def test_primary_is_the_earliest_published_copy() -> None:
    late = item("late", "b", datetime(2021, 1, 12, tzinfo=UTC))
    early = item("early", "c", datetime(2021, 1, 10, tzinfo=UTC))
    undated = item("undated", "a", None)
    members = [(late, T0), (early, T0), (undated, datetime(2021, 1, 13, tzinfo=UTC))]
    assert dedupe.primary(members) == 1


def test_clusters_fall_back_to_source_and_key() -> None:
    assert dedupe.cluster_key("a", "k", "example.com/x") == "example.com/x"
    assert dedupe.cluster_key("a", "k", None) != dedupe.cluster_key("b", "k", None)


def test_huge_identities_are_bounded() -> None:
    guid = "x" * 5000
    key = dedupe.item_key(guid, None, "T", T0)
    assert len(key) <= dedupe.MAX_KEY
    assert key == dedupe.item_key(guid, None, "other", None)
    assert len(dedupe.cluster_key("a", key, "example.com/" + "p" * 5000)) <= dedupe.MAX_KEY

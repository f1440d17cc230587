from dataclasses import replace
from datetime import UTC, datetime, timedelta

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


ARTICLE = (
    "<p>Kementerian Kominfo meminta platform media sosial menindak akun penyebar hoaks menjelang pemilu. "
    "Permintaan itu disampaikan dalam rapat koordinasi di Jakarta pada Senin pagi bersama perwakilan "
    "Twitter, Facebook dan TikTok.</p><p>Menurut juru bicara kementerian, lebih dari 1.200 konten telah "
    "diturunkan sejak awal bulan.</p>"
)


def copy(source: str, title: str, html: str = ARTICLE, hours: float = 0, cluster: str | None = None) -> dedupe.Copy:
    published = T0 + timedelta(hours=hours)
    it = Item(source, title, None, None, cluster or f"{source}/{title}", title, html, "", None, (), published,
              published, (), "h")  # fmt: skip
    return dedupe.copy_of(it)


def test_a_syndicated_copy_with_an_edited_headline_is_the_same_story() -> None:
    original = copy("kompas", "Kominfo Minta Platform Tindak 1.200 Akun Hoaks")
    excerpt = ARTICLE.split("</p>")[0] + "</p>"
    for title in (
        "BREAKING: Kominfo Minta Platform Tindak 1.200 Akun Hoaks",
        "KOMINFO MINTA PLATFORM TINDAK 1.200 AKUN HOAKS",
        "Kominfo Minta Platform Tindak 1.200 Akun Hoaks - Sinyal",
        "“Kominfo Minta Platform Tindak 1.200 Akun Hoaks!”",
        "Kominfo Minta Platform Tindak 1.200 Akun…",
        "Kominfo Desak Platform Tindak 1.200 Akun Hoaks",
    ):
        assert dedupe.same_story(original, copy("sinyal", title, excerpt, hours=3)), title


def test_guards_keep_apart_stories_from_one_headline_template() -> None:
    original = copy("kompas", "Tokopedia Raih Pendanaan US$ 18 Juta")
    assert not dedupe.same_story(original, copy("sinyal", "Tokopedia Raih Pendanaan US$ 75 Juta", hours=1))
    assert not dedupe.same_story(original, copy("sinyal", "Tokopedia Raih Pendanaan US$ 18 Juta", hours=30))
    other_text = (
        "<p>Startup lokal itu akan memakai dana segar untuk memperluas layanan logistik ke Indonesia timur.</p>"
    )
    assert not dedupe.same_story(original, copy("sinyal", "Tokopedia Raih Pendanaan US$ 18 Juta", other_text))
    assert not dedupe.same_story(original, copy("sinyal", "Gojek Buka Lowongan untuk 500 Insinyur"))
    assert not dedupe.same_story(original, copy("kompas", "Tokopedia Raih Pendanaan US$ 18 Juta", hours=1))


def test_the_likeliest_candidate_wins() -> None:
    item = copy("sinyal", "Kominfo Minta Platform Tindak 1.200 Akun Hoaks", hours=2)
    weaker = copy("a", "Kominfo Minta Platform Tindak 1.200 Akun Hoaks", ARTICLE.split("</p>")[0] + " Lain.</p>")
    stronger = copy("b", "Kominfo Minta Platform Tindak 1.200 Akun Hoaks", hours=1, cluster="story")
    assert dedupe.near_duplicate(item, [weaker, stronger]) is stronger
    assert dedupe.near_duplicate(item, []) is None


def test_near_keys_survive_headline_edits() -> None:
    text = "Kementerian Kominfo meminta platform media sosial menindak akun penyebar hoaks menjelang pemilu."
    plain = dedupe.near_keys("Kominfo Minta Platform Tindak Akun Hoaks", text)
    assert dedupe.near_keys("UPDATE: KOMINFO MINTA PLATFORM TINDAK AKUN HOAKS - Sinyal", text + " Lagi.") == plain
    assert dedupe.near_keys("Pendek", "terlalu pendek") == (None, None)

"""Parsing real documents from tests/data, as the parse workers do."""

from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from aggregator.errors import ParseError
from aggregator.models import ParsedFeed
from aggregator.parse import Parser, parse_body
from aggregator.tag import RuleSpec

DATA = Path(__file__).parent / "data"
RULES = (
    RuleSpec("trump", any=("Trump",)),
    RuleSpec("parler", any=("Parler",)),
    RuleSpec("snapchat", any=("Snapchat",)),
)
URL = "https://host.example/feed/"


def parse(name: str, content_type: str | None = None, url: str = URL) -> ParsedFeed:
    feed, error = parse_body((DATA / name).read_bytes(), url, content_type, "src", (), RULES)
    assert error is None
    assert feed is not None
    return feed


def test_wordpress_rss_in_indonesian() -> None:
    feed = parse("wordpress_id.rss", "application/rss+xml")
    assert feed.title == "KabarTekno"
    assert feed.language == "id-ID"
    assert feed.warning is None
    assert len(feed.items) == 6
    first = feed.items[0]
    assert first.key == "https://kabartekno.example/?p=50211"
    assert first.title == "Amazon Web Services Tendang Parler dari Server"
    assert first.link == "https://kabartekno.example/2021/01/11/aws-tendang-parler/"
    assert first.published == datetime(2021, 1, 11, 9, 12, 44, tzinfo=UTC)
    assert first.author == "Rina Kartika"
    assert first.categories == ("Internet", "Parler", "Amazon")
    assert first.topics == ("trump", "parler")
    # relative image resolved against the final URL, handler removed, script gone
    assert '<img src="https://host.example/wp-content/uploads/2021/01/parler-aws.jpg"' in first.content
    assert "onerror" not in first.content
    assert "<script" not in first.content
    assert "tracker" not in first.content


def test_tracking_parameters_are_removed_from_links() -> None:
    feed = parse("wordpress_id.rss")
    snap = next(i for i in feed.items if "Snapchat" in i.title)
    assert snap.link == "https://kabartekno.example/2021/01/08/snapchat-kunci-akun-trump/"


def test_keywords_only_in_code_or_near_misses_do_not_tag() -> None:
    feed = parse("wordpress_id.rss")
    review = next(i for i in feed.items if i.title.startswith("Review"))
    assert review.topics == ()  # "trumpet" in the text, "Trump Parler Snapchat" only inside a <script>


def test_atom_with_xml_base() -> None:
    feed = parse("atom_xmlbase.atom", "application/atom+xml")
    assert feed.title == "Example & News"
    assert feed.language == "en"
    entry = feed.items[0]
    assert entry.link == "https://news.example.org/blog/posts/2021/snap-map"
    assert 'href="https://news.example.org/blog/about"' in entry.content
    assert 'src="https://news.example.org/blog/posts/2021/img/map.png"' in entry.content
    assert entry.published == datetime(2021, 1, 12, 2, 30, tzinfo=UTC)
    assert entry.updated == datetime(2021, 1, 12, 3, 0, tzinfo=UTC)
    assert entry.topics == ("snapchat",)


def test_entry_without_id_or_date_gets_a_stable_key() -> None:
    first = parse("atom_xmlbase.atom").items[1]
    second = parse("atom_xmlbase.atom").items[1]
    assert first.guid is None
    assert first.published is None
    assert first.key == second.key == "news.example.org/blog/undated"


def test_rss_1_0() -> None:
    feed = parse("rdf.rdf")
    assert [i.key for i in feed.items] == ["https://rdf.example/a", "https://rdf.example/b"]
    assert feed.items[0].topics == ("parler",)
    assert feed.items[0].published == datetime(2021, 2, 15, 12, tzinfo=UTC)


def test_latin1_declared_in_the_document() -> None:
    feed = parse("latin1.rss", "text/xml")
    assert feed.title == "Café Tecnológico"
    item = feed.items[0]
    assert item.title == "La aplicación de Trump llega a España"
    assert "Señales" in item.summary
    assert item.published == datetime(2021, 2, 2, 9, tzinfo=UTC)


def test_hostile_markup_is_inert() -> None:
    item = parse("hostile.rss").items[0]
    html = item.summary + item.content
    for payload in (
        "<script",
        "onclick",
        "onerror",
        "javascript:",
        "<iframe",
        "expression(",
        "<form",
        "<style",
        "<svg",
    ):
        assert payload not in html
    assert item.link is None  # a javascript: link is not a link
    assert item.title == "Trump headline"
    assert "parler" not in item.topics  # only inside an HTML comment


def test_truncated_feed_keeps_complete_items_only() -> None:
    feed = parse("truncated.rss")
    assert [i.title for i in feed.items][-1] == "Snapchat Kunci Akun Trump Tanpa Batas Waktu"
    assert len(feed.items) == 3
    assert feed.warning is not None
    assert "cut off" in feed.warning


def test_malformed_xml_is_salvaged_with_a_warning() -> None:
    feed = parse("badxml.rss")
    assert [i.title for i in feed.items] == ["Trump & Parler", "Second"]
    assert feed.warning is not None
    assert "not well-formed" in feed.warning


def test_html_page_is_an_error_naming_the_real_feed() -> None:
    feed, error = parse_body(
        (DATA / "page.html").read_bytes(), "https://kabartekno.example/", "text/html", "s", (), RULES
    )
    assert feed is None
    assert error is not None
    assert "HTML page, not a feed" in error
    assert "https://kabartekno.example/feed/" in error


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_body_is_an_error(body: bytes) -> None:
    feed, error = parse_body(body, URL, "application/rss+xml", "s", (), RULES)
    assert feed is None
    assert error == "the server answered with an empty body instead of a feed"


def test_a_body_that_looks_like_a_path_or_url_is_never_opened() -> None:
    feed, error = parse_body(b"/etc/passwd", URL, None, "s", (), RULES)
    assert feed is None
    assert error is not None
    feed, error = parse_body(b"http://127.0.0.1:9/feed", URL, None, "s", (), RULES)
    assert feed is None


async def test_parser_pool_parses_off_the_event_loop_and_reports_errors() -> None:
    parser = Parser(workers=1)
    try:
        feed = await parser.parse((DATA / "rdf.rdf").read_bytes(), URL, None, "src", (), RULES)
        assert len(feed.items) == 2
        with pytest.raises(ParseError) as caught:
            await parser.parse(b"", URL, None, "src", (), RULES)
        assert caught.value.source == "src"
    finally:
        parser.close()


def test_feedparser_is_used_with_its_sanitiser_off() -> None:
    # If feedparser sanitised, "onerror" would already be gone and our nh3 policy untested.
    raw = feedparser.parse((DATA / "hostile.rss").read_bytes(), sanitize_html=False)
    assert "onerror" in raw.entries[0].summary


def test_windows_1252_bytes_declared_utf8_are_decoded() -> None:
    feed = parse("misdeclared.rss", "application/rss+xml; charset=utf-8")
    assert feed.title == "Café “Lies”"
    assert feed.items[0].title == "Trump’s café – résumé"
    assert feed.items[0].topics == ("trump",)


def test_entity_declarations_are_refused() -> None:
    feed, error = parse_body((DATA / "entity_bomb.rss").read_bytes(), URL, None, "s", (), RULES)
    assert feed is None
    assert error is not None
    assert "declares XML entities" in error


def test_a_plain_doctype_is_fine() -> None:
    body = (
        (DATA / "rdf.rdf")
        .read_bytes()
        .replace(
            b"<rdf:RDF", b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd">\n<rdf:RDF', 1
        )
    )
    feed, error = parse_body(body, URL, None, "s", (), RULES)
    assert error is None
    assert feed is not None
    assert len(feed.items) == 2


@pytest.mark.parametrize(
    ("declared", "expected"), [("id-ID", "id-ID"), ("en_US", "en-US"), ("en-us, fr", "en-us"), ("English!", None)]
)
def test_language_is_a_tag_or_nothing(declared: str, expected: str | None) -> None:
    body = (
        (DATA / "latin1.rss")
        .read_bytes()
        .replace(b"<language>es</language>", f"<language>{declared}</language>".encode())
    )
    feed, _ = parse_body(body, URL, None, "s", (), RULES)
    assert feed is not None
    assert feed.language == expected


async def test_a_dead_worker_fails_one_feed_and_the_pool_recovers() -> None:
    import os
    import signal

    parser = Parser(workers=1)
    try:
        await parser.parse((DATA / "rdf.rdf").read_bytes(), URL, None, "src", (), RULES)
        pool = parser._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(ParseError) as caught:
            await parser.parse((DATA / "rdf.rdf").read_bytes(), URL, None, "src", (), RULES)
        assert "parser process died" in caught.value.message
        feed = await parser.parse((DATA / "rdf.rdf").read_bytes(), URL, None, "src", (), RULES)
        assert len(feed.items) == 2
    finally:
        parser.close()

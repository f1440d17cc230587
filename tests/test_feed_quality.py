"""Every feed we publish passes a strict check of its spec (tests/feedcheck.py), and the checker can fail."""

from pathlib import Path

import pytest

from tests.feedcheck import CHECKS, check_atom, check_json_feed, check_rss

GOLDEN = Path(__file__).parent / "data" / "golden"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_golden_feeds_are_valid(name: str) -> None:
    assert CHECKS[name]((GOLDEN / f"trump-{name}").read_bytes()) == []


def test_the_rss_check_catches_what_the_spec_forbids() -> None:
    bad = b"""<rss version="2.0"><channel><title>t</title><link>/relative</link>
    <pubDate>2021-01-11</pubDate><colour>x</colour>
    <item><link>javascript:alert(1)</link><guid>same</guid><author>Rina</author></item>
    <item><title>b</title><guid>same</guid><pubDate>Mon, 11 Jan 2021 10:00:00 GMT</pubDate></item>
    </channel></rss>"""
    problems = check_rss(bad)
    for expected in (
        "channel: needs exactly one non-empty <description>",
        "channel: <link> '/relative' is not an absolute URL",
        "channel: <pubDate> '2021-01-11' is not an RFC 822 date",
        "channel: <colour> is not an RSS 2.0 element",
        "item 1: needs a <title> or a <description>",
        "item 1: <link> 'javascript:alert(1)' is not an absolute URL",
        "item 1: a permalink <guid> must be an absolute URL",
        "item 1: <author> must be an email address (use dc:creator for names)",
        "guid 'same' is used by 2 items",
    ):
        assert expected in problems


def test_the_atom_check_catches_what_rfc_4287_forbids() -> None:
    bad = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><updated>yesterday</updated>
    <entry><id>x</id><title>a</title><updated>2021-01-11T10:00:00Z</updated></entry>
    <entry><id>x</id><title>b</title><updated>2021-01-11T10:00:00Z</updated><author><name>A</name></author>
    <content>c</content><link href="/a"/><link href="https://e.example/b"/></entry></feed>"""
    problems = check_atom(bad)
    for expected in (
        "feed: needs exactly one <id>",
        "feed: <updated> 'yesterday' is not an RFC 3339 date",
        "feed: no <link rel='self'> (RFC 4287 says SHOULD)",
        "entry 1: <id> 'x' is not an absolute IRI",
        "entry 1: no <author> here or on the feed",
        "entry 1: needs <content> or an alternate <link>",
        "entry 2: <link> href '/a' is not absolute",
        "entry 2: more than one alternate link with the same type and hreflang",
        "entry id 'x' is used 2 times",
    ):
        assert expected in problems


def test_the_json_feed_check_catches_what_the_spec_forbids() -> None:
    bad = b"""{"version": "https://jsonfeed.org/version/1", "title": "t", "home_page_url": "/x", "colour": 1,
    "items": [{"id": "1", "url": "/a", "date_published": "2021-01-11"}, {"id": "1", "content_text": "c"}]}"""
    problems = check_json_feed(bad)
    assert any("'https://jsonfeed.org/version/1.1' was expected" in p for p in problems)
    assert any("'colour' does not match any of the regexes: '^_'" in p for p in problems)
    assert any(p.startswith("items/0:") for p in problems)  # neither content_html nor content_text
    fixed = bad.replace(b'version/1"', b'version/1.1"').replace(b', "colour": 1', b"")
    fixed = fixed.replace(b'"url": "/a"', b'"url": "/a", "content_html": "<p>a</p>"')
    assert check_json_feed(fixed) == [
        "home_page_url '/x' is not an absolute URL",
        "item 1: url '/a' is not an absolute URL",
        "item 1: date_published '2021-01-11' is not an RFC 3339 date",
        "item id '1' is used 2 times",
    ]

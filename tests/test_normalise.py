import pytest

from aggregator.normalise import canonical_link, clean_link, redact, sanitise, visible_text

CANONICAL = "example.com/2021/01/story"


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/2021/01/story",
        "http://example.com/2021/01/story/",
        "https://EXAMPLE.com:443/2021/01/story?utm_source=rss&utm_medium=feed",
        "https://www.example.com/2021/01/story#comments",
        "https://example.com/2021/01/story/amp/",
        "https://example.com/2021/01/story?fbclid=abc&gclid=def",
    ],
)
def test_variants_of_one_article_share_a_canonical_link(variant: str) -> None:
    assert canonical_link(variant) == CANONICAL


def test_different_articles_stay_different() -> None:
    assert canonical_link("https://example.com/?p=1") != canonical_link("https://example.com/?p=2")
    assert canonical_link("https://example.com/a") != canonical_link("https://other.com/a")


def test_clean_link_keeps_meaningful_query_and_drops_tracking() -> None:
    assert clean_link("https://Example.com/read?id=7&utm_campaign=x#top") == "https://example.com/read?id=7"
    assert clean_link("/post", "https://example.com/blog/") == "https://example.com/post"
    assert clean_link("javascript:alert(1)") is None
    assert clean_link("mailto:a@example.com") is None


def test_sanitise_removes_everything_active() -> None:
    dirty = (
        '<p onclick="x()">Hi</p><script>alert(1)</script><img src="a.png" onerror="alert(2)">'
        '<a href="javascript:alert(3)">j</a><iframe src="https://evil.example"></iframe>'
        '<div style="width: expression(alert(4))">s</div><style>p{}</style>'
    )
    clean = sanitise(dirty, "https://example.com/post/")
    for bad in ("script", "onclick", "onerror", "javascript:", "iframe", "expression", "style"):
        assert bad not in clean
    assert '<img alt="" src="https://example.com/post/a.png">' in clean
    assert "<p>Hi</p>" in clean


def test_visible_text_drops_markup_and_decodes_entities() -> None:
    html = sanitise('<p>Trump &amp; <a href="https://x.example/Parler">co</a></p><script>Snapchat</script>')
    assert visible_text(html) == "Trump & co"


def test_redact_hides_credentials() -> None:
    assert redact("https://user:secret@example.com/feed") == "https://***@example.com/feed"
    assert redact("https://example.com/feed") == "https://example.com/feed"
    assert redact("cannot reach http://a:b@x.example/ via https://c@y.example/?u=ftp://d:e@z/") == (
        "cannot reach http://***@x.example/ via https://***@y.example/?u=ftp://***@z/"
    )
    assert redact("https://example.com/a@b?c=d@e") == "https://example.com/a@b?c=d@e"


def test_images_without_alt_text_are_marked_decorative() -> None:
    html = sanitise(
        '<img src="a.png"><img alt="cat" src="b.png"><img src="c.png" title="x alt=y">', "https://e.example/"
    )
    assert html == (
        '<img alt="" src="https://e.example/a.png"><img alt="cat" src="https://e.example/b.png">'
        '<img alt="" src="https://e.example/c.png" title="x alt=y">'
    )

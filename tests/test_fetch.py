"""The HTTP client against a real server on 127.0.0.1."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aggregator.config import Settings
from aggregator.errors import FetchError
from aggregator.fetch import Fetcher, GuardedResolver, PrivateAddressError
from tests.conftest import FeedServer

DATA = Path(__file__).parent / "data"


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {"allow_private_networks": True, "timeout": "2s"}
    return Settings.model_validate({**base, **overrides})


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(settings()) as client:
        yield client


async def test_get_then_conditional_get(fetcher: Fetcher, feed_server: FeedServer) -> None:
    url = feed_server.put_file("wordpress_id.rss")
    first = await fetcher.fetch("s", url)
    assert first.status == 200
    assert first.body == (DATA / "wordpress_id.rss").read_bytes()
    assert first.etag
    assert first.last_modified == "Mon, 11 Jan 2021 10:00:00 GMT"
    second = await fetcher.fetch("s", url, first.etag, first.last_modified)
    assert second.status == 304
    assert second.body == b""
    _, headers = feed_server.requests[-1]
    assert headers["If-None-Match"] == first.etag
    assert headers["If-Modified-Since"] == first.last_modified
    assert headers["User-Agent"].startswith("aggregator/")


async def test_gzip_is_decoded(fetcher: Fetcher, feed_server: FeedServer) -> None:
    url = feed_server.put_file("wordpress_id.rss") + "?gzip"
    response = await fetcher.fetch("s", url)
    assert response.body == (DATA / "wordpress_id.rss").read_bytes()
    _, headers = feed_server.requests[-1]
    assert "gzip" in headers["Accept-Encoding"]


@pytest.mark.parametrize(
    ("code", "words"),
    [(404, "HTTP 404 Not Found: no feed at this address"), (500, "HTTP 500 Internal Server Error: the site has"),
     (403, "HTTP 403 Forbidden: the site refuses us"), (410, "removed for good")],
)  # fmt: skip
async def test_http_errors_say_what_to_do(fetcher: Fetcher, feed_server: FeedServer, code: int, words: str) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch("s", feed_server.url(f"status/{code}"))
    assert words in caught.value.message
    assert caught.value.http_status == code
    assert caught.value.source == "s"


async def test_permanent_redirect_is_followed_and_reported(fetcher: Fetcher, feed_server: FeedServer) -> None:
    feed_server.put_file("rdf.rdf")
    response = await fetcher.fetch("s", feed_server.url("redirect/301/feeds/rdf.rdf"))
    assert response.status == 200
    assert response.url == feed_server.url("feeds/rdf.rdf")
    assert response.permanent_redirect == feed_server.url("feeds/rdf.rdf")


async def test_temporary_redirect_is_not_a_move(fetcher: Fetcher, feed_server: FeedServer) -> None:
    feed_server.put_file("rdf.rdf")
    response = await fetcher.fetch("s", feed_server.url("redirect/302/feeds/rdf.rdf"))
    assert response.status == 200
    assert response.permanent_redirect is None


async def test_redirect_loop_gives_up(fetcher: Fetcher, feed_server: FeedServer) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(
            "s", feed_server.url("redirect/302/redirect/302/redirect/302/redirect/302/redirect/302/redirect/302/x")
        )
    assert "more than 5 redirects" in caught.value.message


async def test_slow_server_times_out_within_the_limit(fetcher: Fetcher, feed_server: FeedServer) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch("s", feed_server.url("faults/slow"))
    assert "no complete answer within 2s" in caught.value.message


async def test_body_cap_applies_while_streaming(feed_server: FeedServer) -> None:
    async with Fetcher(settings(max_bytes="1MB")) as client:
        with pytest.raises(FetchError) as caught:
            await client.fetch("s", feed_server.url("faults/huge"))
    assert "larger than 1 MB (settings.max_bytes)" in caught.value.message


async def test_refused_connection(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch("s", "http://127.0.0.1:9/feed")
    assert "cannot connect to 127.0.0.1:9" in caught.value.message


async def test_private_addresses_are_refused_by_default(feed_server: FeedServer) -> None:
    url = feed_server.put_file("rdf.rdf")
    async with Fetcher(settings(allow_private_networks=False)) as client:
        with pytest.raises(FetchError) as caught:
            await client.fetch("s", url)
        assert "127.0.0.1 is a private address" in caught.value.message
        with pytest.raises(FetchError) as caught:
            await client.fetch("s", url.replace("127.0.0.1", "localhost"))
        assert "refused" in caught.value.message
    assert feed_server.requests == []


async def test_redirect_to_a_non_web_url_is_refused(fetcher: Fetcher, feed_server: FeedServer) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch("s", feed_server.url("redirect-to?url=file:///etc/passwd"))
    assert "non-web URL (file:)" in caught.value.message


async def test_credentials_never_appear_in_errors(fetcher: Fetcher, feed_server: FeedServer) -> None:
    url = feed_server.url("redirect-to?url=http://user:hunter2@127.0.0.1:9/x").replace("http://", "http://u:pw@")
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch("s", url)
    assert "hunter2" not in str(caught.value)
    assert "pw" not in caught.value.message


async def test_the_resolver_refuses_names_that_resolve_to_private_addresses() -> None:
    """A public-looking name pointing at an internal address is caught after DNS, for sources and redirects."""
    resolver = GuardedResolver()
    try:
        with pytest.raises(PrivateAddressError, match="localhost resolves to the private address"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()

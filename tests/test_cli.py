"""The CLI end to end: real processes, a real feed server on 127.0.0.1, SQLite and PostgreSQL."""

import asyncio
import json
import sys
from pathlib import Path

import feedparser
import pytest

from tests.conftest import DATA, FeedServer, write_config
from tests.feedcheck import CHECKS

SOURCES = {
    "kabartekno": "wordpress_id.rss",
    "news": "atom_xmlbase.atom",
    "wire": "rdf.rdf",
    "cafe": "latin1.rss",
    "hostile": "hostile.rss",
}
OUTPUT_FILES = ["index.html", "topics.opml"] + [
    f"{topic}/{name}"
    for topic in ("trump", "parler", "snapchat")
    for name in ("rss.xml", "atom.xml", "feed.json", "index.html", "embed.js", "embed.html")
]


async def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def snapshot(output: Path) -> dict[str, bytes]:
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()}


def serve_all(server: FeedServer) -> dict[str, str]:
    return {name: server.put_file(file) for name, file in SOURCES.items()}


async def test_once_twice_gives_identical_bytes_and_no_duplicates(
    feed_server: FeedServer, tmp_path: Path, database_url: str
) -> None:
    write_config(tmp_path, serve_all(feed_server), database=database_url)
    rc, out, err = await cli("once", cwd=tmp_path)
    assert rc == 0, err
    first = json.loads(out.splitlines()[-1])
    assert first["feeds_ok"] == 5
    assert first["feeds_error"] == 0
    assert first["entries_stored"] == first["entries_new"] == 6 + 2 + 2 + 1 + 1
    files = snapshot(tmp_path / "output")
    assert sorted(files) == sorted(OUTPUT_FILES)

    rc, out, err = await cli("once", cwd=tmp_path)
    assert rc == 0, err
    second = json.loads(out.splitlines()[-1])
    assert second["feeds_not_modified"] == 5
    assert second["entries_new"] == 0
    assert second["entries_stored"] == first["entries_stored"]
    assert snapshot(tmp_path / "output") == files
    assert all("If-None-Match" in headers for _, headers in feed_server.requests[5:])

    for path, data in files.items():
        if path.endswith((".xml", ".opml")) and "/" in path:
            parsed = feedparser.parse(data)
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        if (check := CHECKS.get(path.rsplit("/", 1)[-1])) is not None:
            assert check(data) == [], path  # valid by its spec, checked strictly
            assert len({e.id for e in parsed.entries}) == len(parsed.entries) > 0
    trump = json.loads(files["trump/feed.json"])
    titles = [i["title"] for i in trump["items"]]
    assert "La aplicación de Trump llega a España" in titles
    assert "Trump headline" in titles
    assert not any("<script" in i["content_html"] for i in trump["items"])


async def test_an_edited_item_is_updated_not_duplicated(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.put_file("rdf.rdf")
    write_config(tmp_path, {"wire": url})
    assert (await cli("once", cwd=tmp_path))[0] == 0
    edited = (DATA / "rdf.rdf").read_text().replace("Parler returns online", "Parler returns online, again")
    feed_server.put("feeds/rdf.rdf", edited, "application/rdf+xml")
    _rc, out, _ = await cli("once", cwd=tmp_path)
    summary = json.loads(out.splitlines()[-1])
    assert (summary["entries_new"], summary["entries_updated"], summary["entries_stored"]) == (0, 1, 2)
    assert summary["topics_published"] == ["parler"]
    parler = json.loads((tmp_path / "output/parler/feed.json").read_text())
    assert [i["title"] for i in parler["items"]] == ["Parler returns online, again"]


async def test_same_story_from_two_sources_is_published_once(feed_server: FeedServer, tmp_path: Path) -> None:
    original = feed_server.put_file("wordpress_id.rss")
    copy = """<?xml version="1.0"?><rss version="2.0"><channel><title>Sinyal</title><link>https://sinyal.example/</link>
    <description>x</description><item><title>AWS Tendang Parler - Sinyal</title>
    <link>http://www.kabartekno.example/2021/01/11/aws-tendang-parler?utm_source=sinyal&amp;fbclid=1</link>
    <guid isPermaLink="false">sinyal-1</guid><pubDate>Mon, 11 Jan 2021 12:00:00 GMT</pubDate>
    <description>Amazon memutus hosting Parler.</description></item></channel></rss>"""
    write_config(tmp_path, {"kabartekno": original, "sinyal": feed_server.put("feeds/sinyal.rss", copy)})
    rc, _out, err = await cli("once", cwd=tmp_path)
    assert rc == 0, err
    parler = json.loads((tmp_path / "output/parler/feed.json").read_text())
    aws = [i for i in parler["items"] if "AWS" in i["title"] or "Amazon" in i["title"]]
    assert len(aws) == 1
    assert aws[0]["url"] == "https://kabartekno.example/2021/01/11/aws-tendang-parler/"
    assert aws[0]["_source"]["name"] == "KabarTekno"
    assert aws[0]["_source"]["also"] == [
        {"name": "Sinyal", "url": "http://www.kabartekno.example/2021/01/11/aws-tendang-parler"}
    ]


async def test_failing_sources_are_reported_and_the_rest_published(feed_server: FeedServer, tmp_path: Path) -> None:
    sources = {
        "good": feed_server.put_file("wordpress_id.rss"),
        "gone": feed_server.url("status/404"),
        "broken": feed_server.url("status/503"),
        "page": feed_server.put_file("page.html"),
        "empty": feed_server.put("feeds/empty.xml", b""),
        "refused": "http://127.0.0.1:9/feed",
    }
    write_config(tmp_path, sources)
    rc, out, err = await cli("once", cwd=tmp_path)
    assert rc == 0
    summary = json.loads(out.splitlines()[-1])
    assert (summary["feeds_ok"], summary["feeds_error"]) == (1, 5)
    assert "gone: HTTP 404 Not Found: no feed at this address" in err
    assert "broken: HTTP 503 Service Unavailable: the site is unavailable for now" in err
    assert "page: the URL returned an HTML page, not a feed" in err
    assert "empty: the server answered with an empty body" in err
    assert "refused: cannot connect to 127.0.0.1:9" in err
    assert len(json.loads((tmp_path / "output/trump/feed.json").read_text())["items"]) == 3

    rc, out, err = await cli("status", cwd=tmp_path)
    assert rc == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "ok 200" in rows["good"]
    assert "error 404" in rows["gone"]
    assert "no feed at this address" in rows["gone"]
    assert "(interval (retry))" in rows["gone"]
    assert "(interval)" in rows["good"] or "(feed ttl 1h)" in rows["good"]
    assert out.splitlines()[0].split() == [
        "SOURCE", "LAST", "ATTEMPT", "RESULT", "NEW/UPD", "ITEMS", "SIZE", "TIME", "FAILS", "NEXT", "ATTEMPT", "NOTE"
    ]  # fmt: skip
    rc, out, _ = await cli("status", "--json", cwd=tmp_path)
    states = {s["name"]: s for s in json.loads(out)}
    assert states["broken"]["consecutive_failures"] == 1
    assert states["good"]["items_total"] == 6
    assert states["good"]["next_due"] > states["good"]["last_attempt"]


async def test_once_for_one_source(feed_server: FeedServer, tmp_path: Path) -> None:
    write_config(tmp_path, {"a": feed_server.put_file("rdf.rdf"), "b": feed_server.put_file("latin1.rss")})
    for _ in range(2):  # the second time it is not due, but --source means now
        rc, out, _ = await cli("once", "--source", "b", cwd=tmp_path)
        assert rc == 0
        assert json.loads(out.splitlines()[-1])["feeds"] == 1
    assert feed_server.hits("feeds/rdf.rdf") == 0
    assert feed_server.hits("feeds/latin1.rss") == 2
    rc, _, err = await cli("once", "--source", "nope", cwd=tmp_path)
    assert rc == 2
    assert "no source named 'nope'" in err


async def test_invalid_config_stops_before_anything_is_fetched_or_written(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    path = write_config(tmp_path, {"a": feed_server.put_file("rdf.rdf")})
    path.write_text(path.read_text().replace("  timeout: 3s", "  timeout: 3 seconds\n  colour: blue"))
    for command in ("once", "check", "run"):
        rc, _out, err = await cli(command, cwd=tmp_path)
        assert rc == 2
        assert "error: feeds.yaml:6: settings.timeout: '3 seconds' is not a duration" in err
        assert "unknown key 'colour' in settings" in err
    assert feed_server.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]


async def test_check_accepts_a_valid_config(tmp_path: Path) -> None:
    write_config(tmp_path, {"a": "https://telset.id/feed/"})
    rc, out, _ = await cli("check", cwd=tmp_path)
    assert rc == 0
    assert "OK: 1 sources (1 enabled), 3 topics" in out


@pytest.mark.slow
async def test_demo_builds_real_output_offline(tmp_path: Path) -> None:
    rc, out, err = await cli("demo", "--dir", str(tmp_path / "demo"), "--no-serve", cwd=tmp_path)
    assert rc == 0, err
    assert "3 sample feeds, 12 items stored" in out
    output = tmp_path / "demo" / "output"
    trump = json.loads((output / "trump" / "feed.json").read_text())
    assert len(trump["items"]) == 4
    assert (output / "index.html").read_text().count('type="application/rss+xml"') == 4


async def test_an_identical_body_without_validators_is_not_parsed_again(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    sources = {
        "salvaged": feed_server.put_file("badxml.rss") + "?novalidators",
        "page": feed_server.put_file("page.html") + "?novalidators",
    }
    write_config(tmp_path, sources)
    for run in (1, 2):
        rc, out, _ = await cli("once", cwd=tmp_path)
        assert rc == 0
        summary = json.loads(out.splitlines()[-1])
        assert summary["feeds_error"] == 1
        assert summary["feeds_ok" if run == 1 else "feeds_not_modified"] == 1
    rc, out, _ = await cli("status", "--json", cwd=tmp_path)
    states = {s["name"]: s for s in json.loads(out)}
    assert states["salvaged"]["last_outcome"] == "not_modified"
    assert states["salvaged"]["http_status"] == 200
    assert "not well-formed" in states["salvaged"]["warning"]
    assert states["page"]["consecutive_failures"] == 2
    assert "HTML page, not a feed" in states["page"]["error"]


async def test_credentials_in_source_urls_never_reach_logs_status_or_output(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    secret = "s3cr3t-pa55"
    feed_server.put_file("rdf.rdf", "feeds/private.rdf")

    def with_credentials(url: str) -> str:
        return url.replace("http://", f"http://reader:{secret}@")

    sources = {
        "fails": with_credentials(feed_server.url("faults/500")),
        "moves": with_credentials(feed_server.url("redirect/301/feeds/private.rdf")),
        "escapes": with_credentials(feed_server.url(f"redirect-to?url=ftp://reader:{secret}@127.0.0.1/x")),
        "loops": with_credentials(feed_server.url("faults/redirect-loop")),
        "refused": f"http://reader:{secret}@127.0.0.1:9/feed",
    }
    write_config(tmp_path, sources)
    seen = []
    for args in (("--log-level", "DEBUG", "once"), ("status",), ("status", "--json")):
        rc, out, err = await cli(*args, cwd=tmp_path)
        assert rc == 0, err
        seen += [out, err]
    seen += [p.read_text() for p in (tmp_path / "output").rglob("*") if p.is_file()]
    assert "moved permanently to http://***@127.0.0.1" in seen[1]
    assert all(secret not in text for text in seen)

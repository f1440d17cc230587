"""Response bytes and headers to normalised items, in worker processes (feedparser is pure Python).

feedparser runs with its own sanitiser and relative-URI rewriting off (35 ms against 14 ms a feed on
the bench corpus): we sanitise once with nh3, resolving relative links against xml:base or the final
URL as we go. Errors come back as data so nothing unpicklable crosses the process boundary.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import re
import xml.sax
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any, TypeVar

from aggregator import dedupe, normalise, schedule, tag
from aggregator.errors import ParseError
from aggregator.models import Item, ParsedFeed

T = TypeVar("T")

_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)
_ALTERNATE = re.compile(r"<link\b[^>]*type=[\"']application/(?:rss|atom)\+xml[\"'][^>]*>", re.IGNORECASE)
_ENTITY_DECLARATION = re.compile(rb"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY", re.IGNORECASE)
_HREF = re.compile(r"href=[\"']([^\"']+)[\"']", re.IGNORECASE)


def _date(value: Any) -> datetime | None:
    """feedparser's UTC struct_time to an aware datetime; None when absent or impossible."""
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _detail_base(entry: Any, field: str, default: str) -> str:
    detail = entry.get(field)
    base = detail.get("base") if isinstance(detail, dict) else None
    return str(base) if base else default


def _item(entry: Any, source: str, source_tags: tuple[str, ...], base: str, rules: tag.Rules) -> Item:
    entry_base = _detail_base(entry, "title_detail", base)
    link = normalise.clean_link(entry.get("link"), base)
    canonical = normalise.canonical_link(link)
    title = normalise.plain_text(entry.get("title"))
    summary = normalise.sanitise(entry.get("summary"), _detail_base(entry, "summary_detail", entry_base))
    content = ""
    if entry.get("content"):
        first = entry["content"][0]
        content = normalise.sanitise(first.get("value"), str(first.get("base") or entry_base))
    if content == summary:
        summary = ""
    # dict.get: FeedParserDict.get maps a missing updated_parsed to published_parsed (with a warning).
    published = _date(dict.get(entry, "published_parsed")) or _date(dict.get(entry, "updated_parsed"))
    updated = _date(dict.get(entry, "updated_parsed")) or published
    categories = tuple(
        dict.fromkeys(filter(None, (normalise.plain_text(t.get("term")) for t in entry.get("tags", ()))))
    )
    author = normalise.plain_text(entry.get("author")) or None
    guid = normalise.plain_text(entry.get("id")) or None
    key = dedupe.item_key(guid, canonical, title, published)
    visible = [normalise.visible_text(summary), normalise.visible_text(content)]
    fields = tag.item_fields(title, visible[0], visible[1], categories, author, link)
    title_key, lead_key = dedupe.near_keys(title, visible[1] or visible[0])
    return Item(
        source=source,
        key=key,
        guid=guid,
        link=link,
        cluster=dedupe.cluster_key(source, key, canonical),
        title=title or (normalise.visible_text(summary or content)[:80] if (summary or content) else ""),
        summary=summary,
        content=content,
        author=author,
        categories=categories,
        published=published,
        updated=updated,
        topics=tag.topics_for(fields, source, source_tags, rules),
        content_hash=dedupe.content_hash(
            title, link, summary, content, author, "\x1e".join(categories),
            published.isoformat() if published else None, updated.isoformat() if updated else None,
        ),
        title_key=title_key,
        lead_key=lead_key,
    )  # fmt: skip


def _language(value: object) -> str | None:
    """A BCP 47 tag like ``id-ID`` or nothing: feeds write all sorts of things there."""
    tag = str(value or "").strip().split(",")[0].strip().replace("_", "-")
    return tag if re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*", tag or "") else None


def _not_a_feed(body: bytes, content_type: str | None, url: str, reason: object) -> str:
    head = body[:65536]
    if _HTML_START.match(head) or (content_type or "").startswith("text/html"):
        hint = ""
        match = _ALTERNATE.search(head.decode("utf-8", "replace"))
        if match and (href := _HREF.search(match.group(0))):
            hint = f"; the page names a feed at {normalise.clean_link(href.group(1), url)}: use it as url"
        return (
            "the URL returned an HTML page, not a feed (a home page, a login or a bot challenge)"
            f"{hint or '; check the url in feeds.yaml in a browser'}"
        )
    return f"the response is not an RSS or Atom feed ({reason}); check the url in feeds.yaml"


def _cut_off(bozo: object, body: bytes) -> bool:
    """True when the XML parser ran out of document mid-element: the body was truncated."""
    if not isinstance(bozo, xml.sax.SAXParseException):  # what feedparser reports for XML errors
        return False
    if not any(reason in str(bozo) for reason in ("unclosed token", "no element found")):
        return False  # expat says these only at the end of the input
    lines = body.rstrip().count(b"\n") + 1
    line = bozo.getLineNumber()
    return line is not None and line >= lines


def parse_body(
    body: bytes,
    url: str,
    content_type: str | None,
    source: str,
    source_tags: tuple[str, ...],
    rules: tuple[tag.RuleSpec, ...],
) -> tuple[ParsedFeed | None, str | None]:
    """Parse one response; returns (feed, None) or (None, a message for the maintainer)."""
    import feedparser  # here, not at the top: a run where every feed answers 304 never pays for it

    if not body.strip():
        return None, "the server answered with an empty body instead of a feed"
    if _ENTITY_DECLARATION.search(body[:65536]):
        # Real feeds never declare entities; an entity-expansion bomb does (billions of "lol"s).
        return None, "the document declares XML entities (<!ENTITY>), which feeds never need: refused as unsafe"
    headers = {"content-type": content_type or "application/xml", "content-location": url}
    try:
        parsed = feedparser.parse(
            io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser should never raise; if it does, it is this feed's fault
        return None, f"the feed could not be parsed: {type(exc).__name__}: {exc}"
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version") and not parsed.entries:
        return None, _not_a_feed(body, content_type, url, bozo or "no feed elements found")
    compiled = tag.compile_rules(rules)
    feed = parsed.feed
    base = _detail_base(feed, "title_detail", url) if feed.get("title_detail") else url
    entries = list(parsed.entries)
    warning = None
    if _cut_off(bozo, body):
        # The document ends mid-item: the last entry is unfinished, and storing it would publish a
        # fragment now and an "update" once the feed is whole again.
        entries = entries[:-1]
        warning = f"the feed is cut off before its end ({bozo}); {len(entries)} complete items were read"
    elif bozo is not None and not isinstance(bozo, feedparser.CharacterEncodingOverride):
        warning = f"the feed is not well-formed ({bozo}); {len(entries)} items were read anyway"
    items = tuple(_item(entry, source, source_tags, base, compiled) for entry in entries)
    return (
        ParsedFeed(
            title=normalise.plain_text(feed.get("title")),
            link=normalise.clean_link(feed.get("link"), url),
            language=_language(feed.get("language") or parsed.get("headers", {}).get("content-language")),
            items=items,
            warning=warning,
            ttl=schedule.feed_ttl(feed.get("ttl"), feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
        ),
        None,
    )


def _warm() -> int:
    """Runs once in each worker so the first real parse does not pay for imports."""
    return os.getpid()


class Parser:
    """Parses off the event loop in a pool of processes, created on first use (a 304 run never starts it)."""

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["aggregator.parse", "feedparser"])
            self._pool = ProcessPoolExecutor(self._workers, mp_context=context)
        return self._pool

    async def parse(
        self,
        body: bytes,
        url: str,
        content_type: str | None,
        source: str,
        source_tags: tuple[str, ...],
        rules: tuple[tag.RuleSpec, ...],
    ) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            feed, error = await loop.run_in_executor(
                pool, parse_body, body, url, content_type, source, source_tags, rules
            )
        except BrokenProcessPool as exc:
            self._discard(pool)  # a worker died (killed, out of memory): a fresh pool for the next feeds
            raise ParseError(source, "the parser process died while reading this feed (out of memory?)") from exc
        if error is not None or feed is None:
            raise ParseError(source, error or "unknown parse failure")
        return feed

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Any picklable work on the pool's processes (re-tagging uses it to use both cores)."""
        pool = self._executor()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            self._discard(pool)
            raise

    def _discard(self, pool: Executor) -> None:
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

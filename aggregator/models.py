"""Shared vocabulary: plain frozen data that crosses module boundaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a source, normalised: safe HTML, absolute links, aware UTC dates."""

    source: str
    key: str  # identity within the source (guid, else canonical link, else title+date hash)
    guid: str | None
    link: str | None  # the original article, tracking parameters removed
    cluster: str  # identity across sources (canonical link, else source+key)
    title: str
    summary: str  # sanitised HTML
    content: str  # sanitised HTML ("" when the feed has only a summary)
    author: str | None
    categories: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    topics: tuple[str, ...]
    content_hash: str  # changes only when what we publish about the item changes
    title_key: str | None = None  # the headline reduced to words, hashed (near-duplicates)
    lead_key: str | None = None  # the first words of its text, hashed (near-duplicates)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What parsing one response body gave: feed metadata and its items."""

    title: str
    link: str | None
    language: str | None
    items: tuple[Item, ...]
    warning: str | None = None  # a recoverable problem (e.g. malformed XML with items salvaged)
    ttl: float | None = None  # seconds the feed itself says to wait (<ttl>, sy:updatePeriod)


class Outcome(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Response:
    """A successful HTTP fetch (200 with a body, or 304 without)."""

    status: int
    url: str  # the final URL after redirects
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    elapsed_ms: int
    permanent_redirect: str | None = None  # where a chain of 301/308 ended: the source's new address
    headers: Mapping[str, str] = field(default_factory=dict)  # the caching headers (Cache-Control, Expires, Date, Age)


@dataclass(frozen=True, slots=True)
class Hints:
    """When the server and the feed asked us to come back, in seconds after the attempt (None: not said)."""

    retry_after: float | None = None  # Retry-After on 429/503
    fresh_for: float | None = None  # Cache-Control max-age, else Expires
    feed_ttl: float | None = None  # the feed's <ttl> or sy:updatePeriod / sy:updateFrequency


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one source's items changed."""

    new: int = 0
    updated: int = 0
    topics: frozenset[str] = field(default_factory=frozenset)  # topics whose feeds must be re-rendered


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """The outcome of one source update, recorded on the source and reported to the operator."""

    source: str
    outcome: Outcome
    attempted_at: datetime
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    bytes: int = 0
    ms: int = 0
    error: str | None = None
    warning: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # for people: the new address with any credentials removed
    fetch_url: str | None = None  # for us: the new address to fetch from now on
    feed_title: str | None = None
    feed_link: str | None = None
    language: str | None = None
    topics: frozenset[str] = field(default_factory=frozenset)
    body_hash: str | None = None
    hints: Hints = Hints()


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between runs."""

    name: str
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_outcome: str | None = None
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None
    consecutive_failures: int = 0
    next_due: datetime | None = None
    next_reason: str | None = None  # why next_due is when it is (interval, backoff, Retry-After...)
    moved_to: str | None = None
    fetch_url: str | None = None  # where the source moved permanently (301/308); fetched instead of url
    items_new: int = 0
    items_updated: int = 0
    items_total: int = 0
    bytes: int = 0
    ms: int = 0
    feed_title: str | None = None
    feed_link: str | None = None
    language: str | None = None
    body_hash: str | None = None  # of the last body parsed: an identical body is not parsed again
    feed_ttl: float | None = None  # the feed's own advice, kept for the 304s that follow


@dataclass(frozen=True, slots=True)
class PublishedItem:
    """One story as published in a topic feed: the first source's item and the others that carried it."""

    item: Item
    first_seen: datetime
    also: tuple[Item, ...] = ()

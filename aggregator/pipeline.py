"""One source update: fetch, parse, dedupe, tag, store. It never raises: failures become data on the source."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import UTC, datetime

from aggregator import dedupe, logs, schedule, tag
from aggregator.config import Config, Source
from aggregator.errors import FetchError, ParseError, SourceError
from aggregator.fetch import Fetcher
from aggregator.models import Outcome, SourceState, UpdateResult
from aggregator.normalise import redact_url
from aggregator.parse import Parser
from aggregator.store import Store

log = logging.getLogger(__name__)

#: Part of every body hash: bump it when parsing changes, so unchanged bodies are parsed again once.
PARSE_VERSION = b"1\n"


def rule_specs(config: Config) -> tuple[tag.RuleSpec, ...]:
    return tuple((t.name, tuple(t.match.any), tuple(t.match.all), tuple(t.match.none)) for t in config.topics)


def next_state(state: SourceState, result: UpdateResult, url: str, interval: float) -> SourceState:
    """The decider: what a source's state becomes after an attempt (pure; the store only saves it)."""
    failures = state.consecutive_failures + 1 if result.error else 0
    changes: dict[str, object] = {
        "url": url,
        "last_attempt": result.attempted_at,
        "last_outcome": result.outcome.value,
        "http_status": result.http_status,
        "error": result.error,
        "warning": result.warning,
        "consecutive_failures": failures,
        "next_due": schedule.next_due(result.attempted_at, interval, failures),
        "items_new": result.new,
        "items_updated": result.updated,
        "bytes": result.bytes,
        "ms": result.ms,
        "body_hash": result.body_hash,
    }
    if result.error is None:
        changes["last_success"] = result.attempted_at
        # A 304 may omit validators; only what the server sent replaces what we had.
        for key in ("etag", "last_modified", "feed_title", "feed_link", "language"):
            if getattr(result, key) is not None:
                changes[key] = getattr(result, key)
        changes["moved_to"] = result.moved_to  # cleared once the url in feeds.yaml no longer redirects
    elif url != state.url:
        changes["moved_to"] = None
    return replace(state, **changes)  # type: ignore[arg-type]


class Pipeline:
    def __init__(self, config: Config, fetcher: Fetcher, parser: Parser, store: Store) -> None:
        self.config = config
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.rules = rule_specs(config)

    async def update(self, source: Source, state: SourceState | None) -> tuple[UpdateResult, SourceState]:
        """Update one source; its new state is returned for the caller to save (in batches)."""
        now = datetime.now(UTC)
        try:
            result = await self._update(source, now, state)
        except SourceError as exc:
            status = exc.http_status if isinstance(exc, FetchError) else None
            result = UpdateResult(source.name, Outcome.ERROR, now, http_status=status, error=exc.message)
        except Exception as exc:  # a bug of ours must not stop the other sources either
            log.exception("update.bug", extra={"source": source.name})
            result = UpdateResult(source.name, Outcome.ERROR, now, error=f"internal error: {type(exc).__name__}: {exc}")
        new_state = next_state(state or SourceState(source.name), result, source.url, self.config.interval(source))
        logs.event(
            log,
            "update",
            logging.WARNING if result.error else logging.INFO,
            source=source.name,
            result=result.outcome.value,
            status=result.http_status,
            new=result.new,
            updated=result.updated,
            bytes=result.bytes,
            ms=result.ms,
            error=result.error,
            warning=result.warning,
        )
        return result, new_state

    async def _update(self, source: Source, now: datetime, state: SourceState | None) -> UpdateResult:
        # Validators belong to a URL: after an edit of the url in feeds.yaml they would be wrong.
        same_url = state is not None and state.url == source.url
        etag = state.etag if state and same_url else None
        last_modified = state.last_modified if state and same_url else None
        response = await self.fetcher.fetch(source.name, source.url, etag, last_modified)
        moved = redact_url(response.permanent_redirect) if response.permanent_redirect else None
        common = UpdateResult(
            source.name,
            Outcome.NOT_MODIFIED,
            now,
            http_status=response.status,
            bytes=len(response.body),
            ms=response.elapsed_ms,
            etag=response.etag,
            last_modified=response.last_modified,
            moved_to=moved,
        )
        if response.status == 304:
            return common
        body_hash = hashlib.sha256(PARSE_VERSION + response.body).hexdigest()
        if state is not None and same_url and state.body_hash == body_hash:
            # A server without validators sent the very body we parsed last time: same outcome, no work.
            outcome = Outcome.ERROR if state.error else Outcome.NOT_MODIFIED
            return replace(common, outcome=outcome, error=state.error, warning=state.warning, body_hash=body_hash)
        try:
            feed = await self.parser.parse(response.body, response.url, response.content_type, source.name, self.rules)
        except ParseError as exc:
            return replace(common, outcome=Outcome.ERROR, error=exc.message, body_hash=body_hash)
        stored = await self.store.store_items(source.name, dedupe.collapse_repeats(feed.items), now)
        return replace(
            common,
            outcome=Outcome.OK,
            new=stored.new,
            updated=stored.updated,
            topics=stored.topics,
            warning=feed.warning,
            feed_title=feed.title or None,
            feed_link=feed.link,
            language=feed.language,
            body_hash=body_hash,
        )

"""One source update: fetch, parse, dedupe, tag, store. It never raises: failures become data on the source."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from aggregator import dedupe, logs, schedule
from aggregator.config import Config, Source
from aggregator.errors import FetchError, ParseError, SourceError
from aggregator.fetch import Fetcher
from aggregator.models import Hints, Outcome, SourceState, UpdateResult
from aggregator.normalise import redact
from aggregator.parse import Parser
from aggregator.store import Store

log = logging.getLogger(__name__)

#: Part of every body hash: bump it when parsing changes, so unchanged bodies are parsed again once.
PARSE_VERSION = b"4\n"


def policy(config: Config, source: Source) -> schedule.Policy:
    s = config.settings
    return schedule.Policy(config.interval(source), max_delay=s.max_delay, max_backoff=s.max_backoff)


def next_state(state: SourceState, result: UpdateResult, url: str, polling: schedule.Policy) -> SourceState:
    """The decider: what a source's state becomes after an attempt (pure; the store only saves it).

    ``url`` is the source's address in feeds.yaml: when it differs from the state's, the maintainer
    edited it, and whatever we learnt about the old address (validators, a move) is forgotten.
    """
    same_url = state.url == url
    failures = state.consecutive_failures + 1 if result.error else 0
    feed_ttl = result.hints.feed_ttl if result.hints.feed_ttl is not None else state.feed_ttl if same_url else None
    hints = replace(result.hints, feed_ttl=feed_ttl)
    due, reason = schedule.plan(result.attempted_at, polling, failures, hints)
    changes: dict[str, object] = {
        "url": url,
        "last_attempt": result.attempted_at,
        "last_outcome": result.outcome.value,
        "http_status": result.http_status,
        "error": result.error,
        "warning": result.warning,
        "consecutive_failures": failures,
        "next_due": due,
        "next_reason": reason,
        "items_new": result.new,
        "items_updated": result.updated,
        "bytes": result.bytes,
        "ms": result.ms,
        "body_hash": result.body_hash,
        "feed_ttl": feed_ttl,
        "fetch_url": state.fetch_url if same_url else None,
        "moved_to": state.moved_to if same_url else None,
    }
    if not same_url:
        changes.update(etag=None, last_modified=None)
    if result.error is None:
        changes["last_success"] = result.attempted_at
        # A 304 may omit validators; only what the server sent replaces what we had.
        for key in ("etag", "last_modified", "feed_title", "feed_link", "language"):
            if getattr(result, key) is not None:
                changes[key] = getattr(result, key)
        if result.fetch_url is not None:  # a 301/308: fetch the new address from now on
            changes.update(fetch_url=result.fetch_url, moved_to=result.moved_to)
    elif changes["fetch_url"] is not None:
        # The new address fails: go back to the one in feeds.yaml, which will redirect again if the move holds.
        changes.update(fetch_url=None, etag=None, last_modified=None)
    return replace(state, **changes)  # type: ignore[arg-type]


class Pipeline:
    def __init__(
        self,
        config: Config,
        fetcher: Fetcher,
        parser: Parser,
        store: Store,
        on_update: Callable[[UpdateResult], None] | None = None,
    ) -> None:
        self.config = config
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.rules = config.rule_specs()
        self.on_update = on_update  # metrics, in ``run``

    async def update(self, source: Source, state: SourceState | None) -> tuple[UpdateResult, SourceState]:
        """Update one source; its new state is returned for the caller to save (in batches)."""
        state = state or SourceState(source.name)
        target = state.fetch_url if state.url == source.url and state.fetch_url else source.url
        async with self.fetcher.slots.slot(target):
            now, started = datetime.now(UTC), time.monotonic()
            try:
                result = await self._update(source, target, now, state)
            except SourceError as exc:
                result = _failure(source.name, now, exc)
            except Exception as exc:  # a bug of ours must not stop the other sources either
                log.exception("update.bug", extra={"source": source.name})
                result = UpdateResult(
                    source.name, Outcome.ERROR, now, error=f"internal error: {type(exc).__name__}: {exc}"
                )
        result = replace(
            result,
            ms=result.ms or int((time.monotonic() - started) * 1000),  # failures take time too
            error=redact(result.error) if result.error else None,
            warning=redact(result.warning) if result.warning else None,
        )
        new_state = next_state(state, result, source.url, policy(self.config, source))
        if new_state.moved_to and new_state.moved_to != state.moved_to:
            logs.event(
                log,
                "source.moved",
                logging.WARNING,
                source=source.name,
                moved_to=new_state.moved_to,
                action="fetching the new address from now on; update the url in feeds.yaml",
            )
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
            failures=new_state.consecutive_failures,
            next_due=new_state.next_due.isoformat(timespec="seconds") if new_state.next_due else None,
            next_reason=new_state.next_reason,
            error=result.error,
            warning=result.warning,
        )
        if self.on_update is not None:
            self.on_update(result)
        return result, new_state

    async def _update(self, source: Source, target: str, now: datetime, state: SourceState) -> UpdateResult:
        # Validators belong to a URL: after an edit of the url in feeds.yaml they would be wrong.
        same_url = state.url == source.url
        etag = state.etag if same_url else None
        last_modified = state.last_modified if same_url else None
        response = await self.fetcher.fetch(source.name, target, etag, last_modified)
        moved = response.permanent_redirect
        common = UpdateResult(
            source.name,
            Outcome.NOT_MODIFIED,
            now,
            http_status=response.status,
            bytes=len(response.body),
            ms=response.elapsed_ms,
            etag=response.etag,
            last_modified=response.last_modified,
            moved_to=redact(moved) if moved else None,
            fetch_url=moved,
            hints=Hints(fresh_for=schedule.fresh_for(response.headers, now)),
        )
        if response.status == 304:
            return common
        body_hash = hashlib.sha256(PARSE_VERSION + response.body).hexdigest()
        if same_url and state.body_hash == body_hash:
            # A server without validators sent the very body we parsed last time: same outcome, no work.
            outcome = Outcome.ERROR if state.error else Outcome.NOT_MODIFIED
            return replace(common, outcome=outcome, error=state.error, warning=state.warning, body_hash=body_hash)
        try:
            feed = await self.parser.parse(
                response.body, response.url, response.content_type, source.name, tuple(source.tags), self.rules
            )
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
            hints=replace(common.hints, feed_ttl=feed.ttl),
        )


def _failure(source: str, now: datetime, exc: SourceError) -> UpdateResult:
    status = exc.http_status if isinstance(exc, FetchError) else None
    hints = Hints()
    if isinstance(exc, FetchError) and status in (429, 503):
        hints = Hints(retry_after=schedule.retry_after(exc.headers, now))
    return UpdateResult(source, Outcome.ERROR, now, http_status=status, error=exc.message, hints=hints)

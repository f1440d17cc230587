"""One source update: fetch, parse, dedupe, tag, store. It never raises: failures become data on the source."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aggregator import dedupe, logs, schedule, tag
from aggregator.config import Config, Source
from aggregator.errors import FetchError, SourceError
from aggregator.fetch import Fetcher
from aggregator.models import Outcome, SourceState, UpdateResult
from aggregator.normalise import redact_url
from aggregator.parse import Parser
from aggregator.store import Store

log = logging.getLogger(__name__)


def rule_specs(config: Config) -> tuple[tag.RuleSpec, ...]:
    return tuple(
        (t.name, tuple(t.match.any), tuple(t.match.all), tuple(t.match.none)) for t in config.topics
    )


class Pipeline:
    def __init__(self, config: Config, fetcher: Fetcher, parser: Parser, store: Store) -> None:
        self.config = config
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.rules = rule_specs(config)

    async def update(self, source: Source, state: SourceState | None) -> UpdateResult:
        """Update one source and record the outcome on it; the other sources never see its failure."""
        now = datetime.now(UTC)
        # Validators belong to a URL: after an edit of the url in feeds.yaml they would be wrong.
        same_url = state is not None and state.url == source.url
        etag = state.etag if state and same_url else None
        last_modified = state.last_modified if state and same_url else None
        try:
            result = await self._update(source, now, etag, last_modified)
        except SourceError as exc:
            status = exc.http_status if isinstance(exc, FetchError) else None
            result = UpdateResult(source.name, Outcome.ERROR, now, http_status=status, error=exc.message)
        except Exception as exc:  # a bug of ours must not stop the other sources either
            log.exception("update.bug", extra={"source": source.name})
            result = UpdateResult(source.name, Outcome.ERROR, now, error=f"internal error: {type(exc).__name__}: {exc}")
        failures = (state.consecutive_failures if state else 0) + 1 if result.error else 0
        due = schedule.next_due(now, self.config.interval(source), failures)
        await self.store.record(result, source.url, due)
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
        return result

    async def _update(self, source: Source, now: datetime, etag: str | None, last_modified: str | None) -> UpdateResult:
        response = await self.fetcher.fetch(source.name, source.url, etag, last_modified)
        moved = redact_url(response.permanent_redirect) if response.permanent_redirect else None
        common = {
            "http_status": response.status,
            "bytes": len(response.body),
            "ms": response.elapsed_ms,
            "etag": response.etag,
            "last_modified": response.last_modified,
            "moved_to": moved,
        }
        if response.status == 304:
            return UpdateResult(source.name, Outcome.NOT_MODIFIED, now, **common)  # type: ignore[arg-type]
        feed = await self.parser.parse(response.body, response.url, response.content_type, source.name, self.rules)
        stored = await self.store.store_items(source.name, dedupe.collapse_repeats(feed.items), now)
        return UpdateResult(
            source.name,
            Outcome.OK,
            now,
            new=stored.new,
            updated=stored.updated,
            topics=stored.topics,
            warning=feed.warning,
            feed_title=feed.title or None,
            feed_link=feed.link,
            language=feed.language,
            **common,  # type: ignore[arg-type]
        )

"""Prometheus metrics for ``run`` and ``serve``: what was fetched, stored and published, and source health.

Counters live in the process that polls (``run``); the per-source health gauges are read from the
store at scrape time, so a standalone ``serve`` next to a cron-driven ``once`` reports them too.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from aggregator.models import SourceState, UpdateResult

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """One registry per process (not the global default one), so tests and reloads start clean."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.fetches = Counter(
            "aggregator_fetches", "Source updates by result (ok, not_modified, error).", ["result"],
            registry=self.registry,
        )  # fmt: skip
        self.items = Counter(
            "aggregator_items_stored", "Items stored by updates, new or updated.", ["kind"], registry=self.registry
        )
        self.publish = Histogram(
            "aggregator_publish_duration_seconds", "Time to publish the topics that changed.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry,
        )  # fmt: skip
        self.failures = Gauge(
            "aggregator_source_consecutive_failures", "Consecutive failed updates of each source.", ["source"],
            registry=self.registry,
        )  # fmt: skip
        self.items_total = Gauge("aggregator_items", "Items in the store.", registry=self.registry)
        self.last_publish = Gauge(
            "aggregator_last_publish_timestamp_seconds", "When the output was last published.", registry=self.registry
        )

    def record_update(self, result: UpdateResult) -> None:
        self.fetches.labels(result.outcome.value).inc()
        if result.new:
            self.items.labels("new").inc(result.new)
        if result.updated:
            self.items.labels("updated").inc(result.updated)

    def record_publish(self, seconds: float) -> None:
        self.publish.observe(seconds)

    def set_health(self, states: Iterable[SourceState], enabled: Iterable[str], items: int) -> None:
        """Gauges from the store; sources no longer in feeds.yaml disappear from the output."""
        known = dict.fromkeys(enabled, 0)
        for state in states:
            if state.name in known:
                known[state.name] = state.consecutive_failures
        self.failures.clear()
        for name, failures in known.items():
            self.failures.labels(name).set(failures)
        self.items_total.set(items)

    def render(self) -> bytes:
        return generate_latest(self.registry)

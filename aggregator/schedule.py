"""When each source is due (pure decisions), and the APScheduler jobs that act on them in ``run``."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

JITTER = 0.1  # a tenth of the interval, so sources added together drift apart
MAX_BACKOFF = 12 * 3600.0


def backoff(interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures: doubling, capped, never giving up."""
    if failures <= 0:
        return interval
    return float(min(max(interval, 60.0 * 2 ** (failures - 1)), max(interval, MAX_BACKOFF)))


def next_due(now: datetime, interval: float, failures: int = 0, rng: random.Random | None = None) -> datetime:
    delay = backoff(interval, failures)
    spread = (rng or random).uniform(0, delay * JITTER)
    return now + timedelta(seconds=delay + spread)


Job = Callable[[str], Awaitable[None]]


class Scheduler:
    """One interval job per source (at most one instance each) and periodic service jobs."""

    def __init__(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # only ``run`` pays for the import

        self._scheduler: Any = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        self._scheduler.add_listener(self._failed, EVENT_JOB_ERROR)

    @staticmethod
    def _failed(event: Any) -> None:
        """A job raised: say so in our log, with the traceback (the scheduler itself carries on)."""
        log.error("job.failed", extra={"job": event.job_id}, exc_info=event.exception)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def source_ids(self) -> set[str]:
        return {job.id.removeprefix("source:") for job in self._scheduler.get_jobs() if job.id.startswith("source:")}

    def set_source(self, name: str, interval: float, first: datetime, job: Job) -> None:
        """Add or replace a source's job; the first run is when the source is next due."""
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=interval, jitter=interval * JITTER, timezone=UTC),
            args=[name],
            id=f"source:{name}",
            name=f"update {name}",
            replace_existing=True,
            next_run_time=max(first, datetime.now(UTC)),
            misfire_grace_time=None,
        )

    def remove_source(self, name: str) -> None:
        self._scheduler.remove_job(f"source:{name}")

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        """A periodic service job; ``job`` must be a coroutine function (or a partial of one)."""
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler.add_job(job, IntervalTrigger(seconds=seconds, timezone=UTC), id=name, replace_existing=True)

"""When each source is due (pure decisions), and the APScheduler jobs that act on them in ``run``.

The decision is data: every attempt ends with a next-due time and the reason for it, saved on the
source, so ``status`` can say why a source waits and a restart resumes where the last process left off.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from aggregator.models import Hints

log = logging.getLogger(__name__)

JITTER = 0.1  # up to a tenth of the delay, so sources added together drift apart

#: ``sy:updatePeriod`` values (RSS 1.0 syndication module), in seconds.
_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}


@dataclass(frozen=True, slots=True)
class Policy:
    """A source's polling rules, from feeds.yaml."""

    interval: float
    max_delay: float = 86400.0  # the most a server's or feed's hint may push an attempt back
    max_backoff: float = 43200.0  # the longest wait after failures (never shorter than the interval)


def backoff(policy: Policy, failures: int) -> float:
    """Doubling from the interval after each consecutive failure, capped, never giving up."""
    if failures <= 1:
        return policy.interval
    cap = max(policy.interval, policy.max_backoff)
    return float(min(policy.interval * 2.0 ** min(failures - 1, 64), cap))


def plan(
    now: datetime, policy: Policy, failures: int, hints: Hints, rng: random.Random | None = None
) -> tuple[datetime, str]:
    """The next attempt and why: interval or backoff, pushed later by the hints, plus jitter."""
    if failures:
        delay = backoff(policy, failures)
        reason = f"backoff {duration(delay)} after {failures} failures" if failures > 1 else "interval (retry)"
        pushes = [("Retry-After", hints.retry_after)]
    else:
        delay, reason = policy.interval, "interval"
        pushes = [("Cache-Control/Expires", hints.fresh_for), ("feed ttl", hints.feed_ttl)]
    ceiling = max(policy.max_delay, delay)
    for name, seconds in pushes:
        if seconds is None or seconds <= delay:
            continue
        if seconds > ceiling:
            delay, reason = ceiling, f"{name} {duration(seconds)}, capped at settings.max_delay {duration(ceiling)}"
        else:
            delay, reason = seconds, f"{name} {duration(seconds)}"
    spread = (rng or random).uniform(0, delay * JITTER)
    return now + timedelta(seconds=delay + spread), reason


def duration(seconds: float) -> str:
    """``90s``, ``15m``, ``2.5h``, ``1d``: as feeds.yaml writes durations."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f}{unit}" if value >= 10 or value.is_integer() else f"{value:.1f}{unit}"
    return f"{seconds:.0f}s"


# --- reading the hints ------------------------------------------------------------------------------

#: Hints are capped when read: ten years is far past any max_delay, and keeps the arithmetic finite.
_LONGEST = 10 * 365 * 86400.0
_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII digits only: "²" is a digit to str.isdigit, not to float


def _seconds(text: str | None) -> float | None:
    """A non-negative whole number of seconds as servers and feeds write it, or None."""
    value = (text or "").strip()
    return min(float(value), _LONGEST) if _DIGITS.fullmatch(value) else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def retry_after(headers: Mapping[str, str], received: datetime) -> float | None:
    """``Retry-After`` as seconds (it may be seconds or an HTTP date, measured from the server's clock)."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if (seconds := _seconds(value)) is not None:
        return seconds
    when = _http_date(value)
    if when is None:
        return None
    reference = _http_date(headers.get("Date")) or received
    return max(0.0, (when - reference).total_seconds())


def fresh_for(headers: Mapping[str, str], received: datetime) -> float | None:
    """How long the response stays fresh (RFC 9111): max-age, else Expires; nothing with no-cache/no-store."""
    directives: dict[str, str] = {}
    for part in (headers.get("Cache-Control") or "").split(","):
        key, _, value = part.strip().partition("=")
        if key:
            directives[key.lower()] = value.strip().strip('"')
    if "no-cache" in directives or "no-store" in directives:
        return None
    age = _seconds(headers.get("Age")) or 0.0
    if (max_age := _seconds(directives.get("max-age"))) is not None:
        lifetime = max_age
    elif (expires := _http_date(headers.get("Expires"))) is not None:
        lifetime = (expires - (_http_date(headers.get("Date")) or received)).total_seconds()
    else:
        return None
    remaining = lifetime - age
    return remaining if remaining > 0 else None


def feed_ttl(ttl: object, period: object, frequency: object) -> float | None:
    """The feed's own advice: RSS ``<ttl>`` (minutes) or ``sy:updatePeriod`` / ``sy:updateFrequency``."""
    candidates: list[float] = []
    minutes = _seconds(str(ttl or ""))
    if minutes:
        candidates.append(min(minutes * 60.0, _LONGEST))
    every = _PERIODS.get(str(period or "").strip().lower())
    if every is not None:
        times = _seconds(str(frequency or "1")) or 1.0
        candidates.append(every / times)
    return max(candidates) if candidates else None


# --- the scheduler ``run`` drives ---------------------------------------------------------------------

Job = Callable[[str], Awaitable[None]]


class Scheduler:
    """One job per source, at the time its state says, plus periodic service jobs."""

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

    def set_source(self, name: str, when: datetime, job: Job) -> None:
        """Run ``job(name)`` once at ``when`` (now if past); the job schedules the next attempt itself."""
        from apscheduler.triggers.date import DateTrigger

        when = max(when, datetime.now(UTC))
        self._scheduler.add_job(
            job,
            DateTrigger(run_date=when, timezone=UTC),
            args=[name],
            id=f"source:{name}",
            name=f"update {name}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def remove_source(self, name: str) -> None:
        if self._scheduler.get_job(f"source:{name}") is not None:
            self._scheduler.remove_job(f"source:{name}")

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """A periodic service job; ``job`` must be a coroutine function (or a partial of one)."""
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler.add_job(job, IntervalTrigger(seconds=seconds, timezone=UTC), id=name, replace_existing=True)

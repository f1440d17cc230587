"""When a source is next due: interval, backoff and the hints servers and feeds give (pure)."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import Hints
from aggregator.schedule import Policy, backoff, duration, feed_ttl, fresh_for, plan, retry_after

T0 = datetime(2021, 1, 11, 10, 0, tzinfo=UTC)
HOUR = 3600.0


NO_HINTS = Hints()


def delay_of(policy: Policy, failures: int = 0, hints: Hints = NO_HINTS) -> tuple[float, str]:
    due, reason = plan(T0, policy, failures, hints, random.Random(1))
    return (due - T0).total_seconds(), reason


def test_backoff_doubles_from_the_interval_and_is_capped() -> None:
    policy = Policy(interval=600, max_backoff=12 * HOUR)
    assert [backoff(policy, n) for n in range(1, 6)] == [600, 1200, 2400, 4800, 9600]
    assert backoff(policy, 10) == 12 * HOUR
    assert backoff(policy, 10_000) == 12 * HOUR  # no overflow, never gives up
    assert backoff(Policy(interval=2 * 86400), 5) == 2 * 86400  # never more often than the interval


def test_the_interval_gets_up_to_a_tenth_of_jitter() -> None:
    delays = {plan(T0, Policy(1000), 0, Hints(), random.Random(seed))[0] for seed in range(20)}
    assert len(delays) > 1
    assert all(T0 + timedelta(seconds=1000) <= d <= T0 + timedelta(seconds=1100) for d in delays)
    assert delay_of(Policy(1000))[1] == "interval"


def test_failures_back_off_with_the_reason_given() -> None:
    delay, reason = delay_of(Policy(600), failures=3)
    assert 2400 <= delay <= 2640
    assert reason == "backoff 40m after 3 failures"


def test_retry_after_pushes_a_failed_source_later_but_never_earlier() -> None:
    delay, reason = delay_of(Policy(60), failures=1, hints=Hints(retry_after=7200))
    assert 7200 <= delay <= 7920
    assert reason == "Retry-After 2h"
    delay, reason = delay_of(Policy(3600), failures=1, hints=Hints(retry_after=5))
    assert delay >= 3600
    assert reason == "interval (retry)"


def test_a_hint_is_capped_so_one_header_cannot_silence_a_source_for_months() -> None:
    delay, reason = delay_of(Policy(600, max_delay=86400), failures=1, hints=Hints(retry_after=90 * 86400))
    assert 86400 <= delay <= 86400 * 1.1
    assert reason == "Retry-After 90d, capped at settings.max_delay 1d"


def test_cache_lifetime_and_feed_ttl_push_a_success_later_when_longer() -> None:
    assert delay_of(Policy(600), hints=Hints(fresh_for=1800))[1] == "Cache-Control/Expires 30m"
    assert delay_of(Policy(600), hints=Hints(fresh_for=60))[1] == "interval"
    delay, reason = delay_of(Policy(600), hints=Hints(fresh_for=1800, feed_ttl=2 * HOUR))
    assert reason == "feed ttl 2h"
    assert 2 * HOUR <= delay <= 2.2 * HOUR
    assert delay_of(Policy(600), failures=2, hints=Hints(feed_ttl=86400))[1].startswith("backoff")


HEADERS_DATE = "Mon, 11 Jan 2021 10:00:00 GMT"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": " 0 "}, 0.0),
        ({"Retry-After": "Mon, 11 Jan 2021 11:30:00 GMT", "Date": HEADERS_DATE}, 5400.0),
        ({"Retry-After": "Mon, 11 Jan 2021 11:30:00 GMT"}, 5400.0),  # no Date: our clock
        ({"Retry-After": "Mon, 11 Jan 2021 09:00:00 GMT", "Date": HEADERS_DATE}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "²"}, None),  # a digit to str.isdigit, not to float
        ({"Retry-After": "9" * 40}, None),
        ({"Retry-After": "Mon, 11 Jan 99999 10:00:00 GMT"}, None),
        ({"Retry-After": "-5"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, T0) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "public, max-age=3600"}, 3600.0),
        ({"Cache-Control": "max-age=3600", "Age": "600"}, 3000.0),
        ({"Cache-Control": "max-age=3600, no-cache"}, None),
        ({"Cache-Control": "no-store", "Expires": "Mon, 11 Jan 2021 12:00:00 GMT"}, None),
        ({"Cache-Control": 'max-age="120"'}, 120.0),
        ({"Expires": "Mon, 11 Jan 2021 12:00:00 GMT", "Date": HEADERS_DATE}, 7200.0),
        ({"Expires": "Mon, 11 Jan 2021 12:00:00 GMT", "Cache-Control": "max-age=60"}, 60.0),  # max-age wins
        ({"Expires": "0"}, None),
        ({"Expires": "Mon, 11 Jan 2021 09:00:00 GMT"}, None),  # already stale
        ({"Cache-Control": "max-age=0"}, None),
        ({"Cache-Control": "max-age=²"}, None),
        ({"Cache-Control": "max-age=60", "Age": "①"}, 60.0),
        ({}, None),
    ],
)
def test_freshness_follows_rfc_9111(headers: dict[str, str], expected: float | None) -> None:
    assert fresh_for(headers, T0) == expected


@pytest.mark.parametrize(
    ("ttl", "period", "frequency", "expected"),
    [
        ("60", None, None, 3600.0),
        (None, "hourly", "1", 3600.0),
        (None, "daily", "4", 21600.0),
        (None, "Weekly", None, 7 * 86400.0),
        ("90", "hourly", "2", 5400.0),  # the longer one
        ("0", None, None, None),
        ("soon", "fortnightly", None, None),
        (None, "hourly", "x", 3600.0),
        (None, "hourly", "0", 3600.0),
        ("²", None, None, None),
        ("9" * 400, None, None, None),
        (None, None, None, None),
    ],
)
def test_feed_ttl_from_rss_ttl_and_the_syndication_module(
    ttl: str | None, period: str | None, frequency: str | None, expected: float | None
) -> None:
    assert feed_ttl(ttl, period, frequency) == expected


def test_durations_read_like_feeds_yaml() -> None:
    assert [duration(s) for s in (5, 90, 600, 5400, 86400, 90 * 86400)] == ["5s", "1.5m", "10m", "1.5h", "1d", "90d"]

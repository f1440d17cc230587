"""The decider: how a source's state changes after an attempt (pure)."""

from datetime import UTC, datetime, timedelta

from aggregator.models import Outcome, SourceState, UpdateResult
from aggregator.pipeline import next_state

T0 = datetime(2021, 1, 11, tzinfo=UTC)
URL = "https://a.example/feed"


def test_success_resets_failures_and_keeps_validators_the_server_did_not_resend() -> None:
    state = SourceState("a", url=URL, etag='"1"', last_modified="Mon", consecutive_failures=3, error="HTTP 500")
    after = next_state(state, UpdateResult("a", Outcome.NOT_MODIFIED, T0, http_status=304), URL, 900)
    assert after.consecutive_failures == 0
    assert after.error is None
    assert (after.etag, after.last_modified) == ('"1"', "Mon")
    assert after.last_success == T0
    assert T0 + timedelta(seconds=900) <= after.next_due <= T0 + timedelta(seconds=990)


def test_failures_count_up_and_back_off() -> None:
    state = SourceState("a", url=URL, etag='"1"', consecutive_failures=4)
    after = next_state(state, UpdateResult("a", Outcome.ERROR, T0, error="timed out"), URL, 60)
    assert after.consecutive_failures == 5
    assert after.error == "timed out"
    assert after.etag == '"1"'  # a failure never forgets validators
    assert after.next_due >= T0 + timedelta(minutes=16)


def test_moved_notice_is_kept_through_failures_and_cleared_when_fixed() -> None:
    moved = next_state(
        SourceState("a", url=URL), UpdateResult("a", Outcome.OK, T0, moved_to="https://b.example/feed"), URL, 60
    )
    assert moved.moved_to == "https://b.example/feed"
    failed = next_state(moved, UpdateResult("a", Outcome.ERROR, T0, error="x"), URL, 60)
    assert failed.moved_to == "https://b.example/feed"
    fixed = next_state(failed, UpdateResult("a", Outcome.OK, T0), "https://b.example/feed", 60)
    assert fixed.moved_to is None

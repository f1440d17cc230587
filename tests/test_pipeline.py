"""The decider: how a source's state changes after an attempt (pure)."""

from datetime import UTC, datetime, timedelta

from aggregator.models import Hints, Outcome, SourceState, UpdateResult
from aggregator.pipeline import next_state
from aggregator.schedule import Policy

T0 = datetime(2021, 1, 11, tzinfo=UTC)
URL = "https://a.example/feed"
NEW = "https://b.example/feed"


def test_success_resets_failures_and_keeps_validators_the_server_did_not_resend() -> None:
    state = SourceState("a", url=URL, etag='"1"', last_modified="Mon", consecutive_failures=3, error="HTTP 500")
    after = next_state(state, UpdateResult("a", Outcome.NOT_MODIFIED, T0, http_status=304), URL, Policy(900))
    assert after.consecutive_failures == 0
    assert after.error is None
    assert (after.etag, after.last_modified) == ('"1"', "Mon")
    assert after.last_success == T0
    assert T0 + timedelta(seconds=900) <= after.next_due <= T0 + timedelta(seconds=990)
    assert after.next_reason == "interval"


def test_a_304_keeps_the_new_validators_the_server_sent() -> None:
    state = SourceState("a", url=URL, etag='"1"', last_modified="Mon")
    result = UpdateResult("a", Outcome.NOT_MODIFIED, T0, http_status=304, etag='"2"', last_modified="Tue")
    after = next_state(state, result, URL, Policy(900))
    assert (after.etag, after.last_modified) == ('"2"', "Tue")


def test_failures_count_up_and_back_off() -> None:
    state = SourceState("a", url=URL, etag='"1"', consecutive_failures=4)
    after = next_state(state, UpdateResult("a", Outcome.ERROR, T0, error="timed out"), URL, Policy(60))
    assert after.consecutive_failures == 5
    assert after.error == "timed out"
    assert after.etag == '"1"'  # a failure never forgets validators
    assert after.next_due >= T0 + timedelta(minutes=16)
    assert after.next_reason == "backoff 16m after 5 failures"


def test_the_feed_ttl_outlives_the_304s_that_follow() -> None:
    state = SourceState("a", url=URL)
    ok = next_state(state, UpdateResult("a", Outcome.OK, T0, hints=Hints(feed_ttl=7200)), URL, Policy(600))
    assert ok.feed_ttl == 7200
    later = next_state(ok, UpdateResult("a", Outcome.NOT_MODIFIED, T0, http_status=304), URL, Policy(600))
    assert later.feed_ttl == 7200
    assert later.next_due >= T0 + timedelta(hours=2)
    assert later.next_reason == "feed ttl 2h"


def test_a_permanent_move_is_followed_from_then_on_until_it_fails() -> None:
    moved = next_state(
        SourceState("a", url=URL, etag='"old"'),
        UpdateResult("a", Outcome.OK, T0, etag='"new"', moved_to=NEW, fetch_url=NEW),
        URL,
        Policy(60),
    )
    assert (moved.fetch_url, moved.moved_to, moved.etag) == (NEW, NEW, '"new"')
    direct = next_state(moved, UpdateResult("a", Outcome.NOT_MODIFIED, T0, http_status=304), URL, Policy(60))
    assert (direct.fetch_url, direct.moved_to) == (NEW, NEW)  # fetched from the new address, notice kept
    failed = next_state(direct, UpdateResult("a", Outcome.ERROR, T0, error="HTTP 404"), URL, Policy(60))
    assert failed.fetch_url is None  # back to the address in feeds.yaml...
    assert failed.etag is None  # ...whose validators we do not have
    assert failed.moved_to == NEW  # the notice stays until the maintainer acts


def test_editing_the_url_forgets_what_was_learnt_about_the_old_one() -> None:
    state = SourceState("a", url=URL, etag='"1"', fetch_url=NEW, moved_to=NEW, feed_ttl=7200)
    after = next_state(state, UpdateResult("a", Outcome.OK, T0), NEW, Policy(60))
    assert (after.url, after.etag, after.fetch_url, after.moved_to, after.feed_ttl) == (NEW, None, None, None, None)

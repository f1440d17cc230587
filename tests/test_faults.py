"""The fault suite: every hostile server behaviour of ``../shared/bench/server.py``, against a real process.

For each fault a source that already has stored items is pointed at the fault route, next to a healthy
neighbour on the same host, and ``aggregator once`` runs as a real process. The attempt must end within
the timeout, memory must stay bounded, the error must be in words a maintainer understands, the
neighbour must be unaffected, and the stored items must be untouched.

``AGGREGATOR_FAULT_BASE=http://127.0.0.1:PORT`` runs the same checks against a running bench server's
fault routes instead of ours; ``AGGREGATOR_FAULT_REPORT=FILE`` appends one JSON line per fault.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BOMB_MB, FeedServer, gzip_bomb, write_config

pytestmark = pytest.mark.slow

TIMEOUT = 3.0  # write_config's settings.timeout
INTERVAL = "default_interval: 60s"  # shorter than the 429 route's Retry-After: 120
PEAK_LIMIT_MB = 350  # our processes together use about 200 MB; a fault that got past a limit needs 300 to 512 more


@dataclass(frozen=True)
class Fault:
    path: str
    outcome: str
    says: str  # what the error (or warning) tells the maintainer
    failures: int = 1
    reasons: tuple[str, ...] = ("interval (retry)",)  # what the next attempt's reason may start with


FAULTS = {
    "500": Fault("faults/500", "error", "HTTP 500 Internal Server Error: the site has a problem; we will retry"),
    "429": Fault(
        "faults/429", "error", "HTTP 429 Too Many Requests: the site says we ask too often", 1, "Retry-After 2m"
    ),
    "slow": Fault("faults/slow", "error", f"no complete answer within {TIMEOUT:g}s (settings.timeout)"),
    "huge": Fault("faults/huge", "error", "the body is larger than 10 MB (settings.max_bytes)"),
    "redirect-loop": Fault("faults/redirect-loop", "error", "more than 5 redirects"),
    "301": Fault("faults/301", "ok", "", 0, ("interval", "feed ttl")),  # the feed it moved to may say its ttl
    "notfeed": Fault("faults/notfeed", "error", "the URL returned an HTML page, not a feed"),
    "badxml": Fault("faults/badxml", "ok", "the feed is not well-formed", 0, ("interval",)),
    "bomb": Fault("faults/bomb", "error", "declares XML entities (<!ENTITY>)"),
    "gzipbomb": Fault("faults/gzipbomb", "error", "the body is larger than 10 MB (settings.max_bytes)"),
}


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # it ended meanwhile
    return total


@dataclass
class Run:
    rc: int
    out: str
    err: str
    seconds: float
    peak_mb: float


async def measured(*args: str, cwd: Path) -> Run:
    """Run the CLI, sampling the whole process tree's memory every 20 ms."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, _tree_rss_kb(process.pid))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        sampler.cancel()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode(), time.monotonic() - started, peak / 1024)


def stored(database: Path, source: str) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT key, title, summary, content, link, content_hash, first_seen FROM items WHERE source = ?", (source,)
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_a_hostile_source_fails_alone_quickly_and_within_memory(
    name: str, feed_server: FeedServer, tmp_path: Path
) -> None:
    fault = FAULTS[name]
    base = os.environ.get("AGGREGATOR_FAULT_BASE", feed_server.base).rstrip("/")
    good = feed_server.put_file("wordpress_id.rss")
    neighbour = feed_server.put_file("rdf.rdf")
    write_config(tmp_path, {"victim": good, "neighbour": neighbour}, extra=INTERVAL)
    seeding = await measured("once", cwd=tmp_path)
    assert seeding.rc == 0, seeding.err
    before = stored(tmp_path / "aggregator.db", "victim")
    assert before

    write_config(tmp_path, {"victim": f"{base}/{fault.path}", "neighbour": neighbour}, extra=INTERVAL)
    if name == "gzipbomb":
        await asyncio.to_thread(gzip_bomb, BOMB_MB)  # built before the clock starts: it is the server's cost
    run = await measured("once", cwd=tmp_path)
    assert run.rc == 0, run.err
    states = {s["name"]: s for s in json.loads((await measured("status", "--json", cwd=tmp_path)).out)}
    victim = states["victim"]

    report = {
        "fault": name,
        "outcome": victim["last_outcome"],
        "status": victim["http_status"],
        "attempt_ms": victim["ms"],
        "process_s": round(run.seconds, 2),
        "peak_mb": round(run.peak_mb, 1),
        "message": victim["error"] or victim["warning"] or victim["moved_to"],
        "next": victim["next_reason"],
    }
    if path := os.environ.get("AGGREGATOR_FAULT_REPORT"):
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(report, ensure_ascii=False) + "\n")

    assert victim["last_outcome"] == fault.outcome, report
    assert fault.says in (victim["error"] or victim["warning"] or ""), report
    if fault.outcome == "error":
        assert f"victim: {victim['error']}" in run.err  # ``once`` names the failure on stderr
    assert victim["consecutive_failures"] == fault.failures
    assert victim["next_reason"].startswith(fault.reasons), report
    assert victim["ms"] <= (TIMEOUT + 1) * 1000, report  # the attempt ended within its timeout
    assert run.peak_mb < PEAK_LIMIT_MB, report
    assert states["neighbour"]["last_outcome"] == "not_modified"
    assert states["neighbour"]["error"] is None
    after = stored(tmp_path / "aggregator.db", "victim")
    assert {key: after.get(key) for key in before} == before  # nothing stored was lost or altered
    if name == "301":
        assert victim["moved_to"].startswith(base)
        assert victim["fetch_url"] == victim["moved_to"]
        assert "moved permanently" in run.err

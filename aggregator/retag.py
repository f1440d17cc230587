"""Re-tagging: when topic rules change, every stored item's topics are computed again.

New items are tagged as they are parsed; this pass brings the items already stored in line with the
current rules, so an edited topic is right about the past too and a new topic starts full. It runs
when the rules' fingerprint (rules and source tags) differs from the one saved with the last pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass

from aggregator import logs, tag
from aggregator.config import Config
from aggregator.models import Item
from aggregator.normalise import visible_text
from aggregator.store import Store

log = logging.getLogger(__name__)

RULES_KEY = "rules"
#: Bump when matching itself changes, so stored items are tagged again once after an upgrade.
TAG_VERSION = "2"

Progress = Callable[[int], None]  # items done so far
IN_FLIGHT = 2  # chunks being tagged at once: one per core of the parse pool


@dataclass(frozen=True, slots=True)
class RetagReport:
    items: int
    changed: int
    topics: frozenset[str]  # topics that gained or lost items
    seconds: float


def fingerprint(config: Config) -> str:
    specs = [asdict(spec) for spec in config.rule_specs()]
    tags = {s.name: sorted(s.tags) for s in config.sources}
    return hashlib.sha256(json.dumps([TAG_VERSION, specs, tags], sort_keys=True).encode()).hexdigest()


def topics_of(item: Item, source_tags: tuple[str, ...], rules: tag.Rules) -> tuple[str, ...]:
    """What parsing would tag the item with today (from what is stored: sanitised HTML, categories...)."""
    fields = tag.item_fields(
        item.title, visible_text(item.summary), visible_text(item.content), item.categories, item.author, item.link
    )
    return tag.topics_for(fields, item.source, source_tags, rules)


def tag_chunk(
    chunk: list[Item], specs: tuple[tag.RuleSpec, ...], source_tags: dict[str, tuple[str, ...]]
) -> list[tuple[str, ...]]:
    """The topics of each item of a chunk (runs in a parse worker: plain data in, plain data out)."""
    rules = tag.compile_rules(specs)
    return [topics_of(item, source_tags.get(item.source, ()), rules) for item in chunk]


#: Runs a function in the parse pool: ``Parser.run``.
Runner = Callable[..., Awaitable[list[tuple[str, ...]]]]


async def retag(
    store: Store, config: Config, progress: Progress | None = None, run: Runner | None = None
) -> RetagReport:
    """Tag every stored item again; with ``run``, chunks are tagged in the parse pool (both cores)
    while the next chunk is read and the previous one written."""
    started = time.perf_counter()
    specs = config.rule_specs()
    source_tags = {s.name: tuple(s.tags) for s in config.sources}
    done = changed = 0
    touched: set[str] = set()
    pending: deque[tuple[list[tuple[int, Item]], asyncio.Future[list[tuple[str, ...]]]]] = deque()

    async def finish_oldest() -> None:
        nonlocal done, changed
        chunk, future = pending.popleft()
        try:
            results = await future
        except BrokenProcessPool:  # a worker died: tag this chunk here (the pool is rebuilt for the next)
            results = tag_chunk([item for _, item in chunk], specs, source_tags)
        updates = []
        for (item_id, item), topics in zip(chunk, results, strict=True):
            if set(topics) != set(item.topics):
                updates.append((item_id, topics))
                touched.update(set(topics) ^ set(item.topics))
        await store.set_topics(updates)
        done += len(chunk)
        changed += len(updates)
        if progress is not None:
            progress(done)

    try:
        async for chunk in store.all_items():
            items = [item for _, item in chunk]
            if run is None:
                future: asyncio.Future[list[tuple[str, ...]]] = asyncio.get_running_loop().create_future()
                future.set_result(tag_chunk(items, specs, source_tags))
            else:
                future = asyncio.ensure_future(run(tag_chunk, items, specs, source_tags))
            pending.append((chunk, future))
            if len(pending) > IN_FLIGHT:
                await finish_oldest()
        while pending:
            await finish_oldest()
    finally:
        for _, future in pending:  # stopped early (an error, a cancel): leave no work running
            future.cancel()
    await store.set_meta(RULES_KEY, fingerprint(config))
    report = RetagReport(done, changed, frozenset(touched), time.perf_counter() - started)
    logs.event(
        log,
        "retag",
        items=done,
        changed=changed,
        topics=",".join(sorted(touched)) or "-",
        ms=int(report.seconds * 1000),
    )
    return report


async def retag_if_changed(
    store: Store, config: Config, progress: Progress | None = None, run: Runner | None = None
) -> RetagReport | None:
    """Re-tag when the rules changed since the last pass (a new, empty store just records them)."""
    saved = await store.get_meta(RULES_KEY)
    current = fingerprint(config)
    if saved == current:
        return None
    if saved is None and not await store.item_count():
        await store.set_meta(RULES_KEY, current)
        return None
    return await retag(store, config, progress, run)


@dataclass(frozen=True, slots=True)
class Preview:
    """What a topic's current rules select among the stored items, against what is tagged now."""

    topic: str
    selected: int
    tagged: int
    added: list[Item]  # selected by the rules, not tagged yet
    dropped: list[Item]  # tagged now, no longer selected


async def preview(store: Store, config: Config, topic: str) -> Preview:
    """A dry run of one topic's rules over the store; nothing is written."""
    rules = tag.compile_rules(config.rule_specs())
    source_tags = {s.name: tuple(s.tags) for s in config.sources}
    selected = tagged = 0
    added: list[Item] = []
    dropped: list[Item] = []
    async for chunk in store.all_items():
        for _, item in chunk:
            now = topic in topics_of(item, source_tags.get(item.source, ()), rules)
            before = topic in item.topics
            selected += now
            tagged += before
            if now and not before:
                added.append(item)
            elif before and not now:
                dropped.append(item)
    return Preview(topic, selected, tagged, added, dropped)

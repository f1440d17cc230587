"""Composition root: builds store, fetcher, parser, pipeline and publisher; runs ``once`` and ``run``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from aggregator import config as config_module
from aggregator import logs, retag
from aggregator.config import Config, LoadedConfig, Source
from aggregator.errors import ConfigError
from aggregator.fetch import Fetcher
from aggregator.models import SourceState, UpdateResult
from aggregator.parse import Parser
from aggregator.pipeline import Pipeline
from aggregator.publish import Publisher, PublishReport
from aggregator.store import Store

if TYPE_CHECKING:
    from aggregator.metrics import Metrics  # prometheus-client: ``run`` and ``serve`` only
    from aggregator.schedule import Scheduler  # APScheduler: imported by ``run`` only

log = logging.getLogger(__name__)

Progress = Callable[[UpdateResult, int, int], None]
STATE_BATCH = 100


@dataclass
class OnceReport:
    results: list[UpdateResult]
    publish: PublishReport
    entries_stored: int

    @property
    def failed(self) -> list[UpdateResult]:
        return [r for r in self.results if r.error]

    def summary(self) -> dict[str, object]:
        return {
            "feeds": len(self.results),
            "feeds_ok": sum(r.outcome.value == "ok" for r in self.results),
            "feeds_not_modified": sum(r.outcome.value == "not_modified" for r in self.results),
            "feeds_error": len(self.failed),
            "entries_new": sum(r.new for r in self.results),
            "entries_updated": sum(r.updated for r in self.results),
            "entries_stored": self.entries_stored,
            "topics_published": list(self.publish.topics),
            "files_written": self.publish.files_written,
        }


class Service:
    """The parts one process needs, opened and closed together."""

    def __init__(self, loaded: LoadedConfig, metrics: Metrics | None = None) -> None:
        self.loaded = loaded
        self.metrics = metrics
        self.store = Store(loaded.settings.database_url)
        self.fetcher = Fetcher(loaded.settings)
        self.parser = Parser()
        self._stack = AsyncExitStack()
        self._maintenance = asyncio.Lock()  # re-tagging and pruning walk the same items: one at a time
        self.pipeline, self.publisher = self._workers(loaded.config)

    def _workers(self, config: Config) -> tuple[Pipeline, Publisher]:
        """The parts built from a config (rebuilt on reload); the open resources are shared."""
        on_update = self.metrics.record_update if self.metrics else None
        on_publish = self.metrics.record_publish if self.metrics else None
        pipeline = Pipeline(config, self.fetcher, self.parser, self.store, on_update)
        return pipeline, Publisher(self.store, config, on_publish)

    @property
    def config(self) -> Config:
        return self.loaded.config

    async def __aenter__(self) -> Service:
        await self._stack.enter_async_context(self.store)
        await self._stack.enter_async_context(self.fetcher)
        self._stack.callback(self.parser.close)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def reconfigure(self, loaded: LoadedConfig) -> None:
        """Take a new config's sources, topics and rules; settings that shape open resources need a restart."""
        for key in (
            "database",
            "concurrency",
            "per_host",
            "timeout",
            "max_bytes",
            "user_agent",
            "allow_private_networks",
        ):
            if getattr(loaded.settings, key) != getattr(self.loaded.settings, key):
                logs.event(log, "config.restart_needed", logging.WARNING, setting=key)
        self.loaded = loaded
        self.pipeline, self.publisher = self._workers(loaded.config)

    async def update(self, sources: Iterable[Source], progress: Progress | None = None) -> list[UpdateResult]:
        """Update sources concurrently, within the fetcher's global and per-host limits.

        States are saved in batches: one transaction per source would cost more than a 304 poll itself.
        """
        chosen = list(sources)
        states = await self.store.states()
        results: list[UpdateResult] = []
        unsaved: list[SourceState] = []

        async def one(source: Source) -> UpdateResult:
            result, state = await self.pipeline.update(source, states.get(source.name))
            results.append(result)
            unsaved.append(state)
            if len(unsaved) >= STATE_BATCH:
                batch = unsaved[:]
                unsaved.clear()
                await self.store.save_states(batch)
            if progress is not None:
                progress(result, len(results), len(chosen))
            return result

        try:
            return list(await asyncio.gather(*(one(s) for s in chosen)))
        finally:
            await self.store.save_states(unsaved)

    async def once(self, only: str | None = None, progress: Progress | None = None) -> OnceReport:
        if only is not None:
            try:
                sources = [self.config.source(only)]
            except KeyError:
                raise ConfigError([f"{self.loaded.path}: no source named {only!r}"]) from None
        else:
            sources = [s for s in self.config.sources if s.enabled]
        retagged = await self.retag()
        results = await self.update(sources, progress)
        changed = set().union(*(r.topics for r in results)) if results else set()
        report = await self.publisher.publish(changed | (retagged.topics if retagged else set()))
        await self.prune()
        return OnceReport(results, report, await self.store.item_count())

    async def retag(self) -> retag.RetagReport | None:
        """Tag stored items again if the rules changed (never while a prune runs)."""
        async with self._maintenance:
            return await retag.retag_if_changed(self.store, self.config, run=self.parser.run)

    async def prune(self) -> int:
        """Retention: drop items older than ``settings.retention`` that no topic feed publishes any more."""
        async with self._maintenance:
            return await self._prune()

    async def _prune(self) -> int:
        settings = self.config.settings
        before = datetime.now(UTC) - timedelta(seconds=settings.retention)
        pruned = await self.store.prune(before, [t.name for t in self.config.topics], settings.max_items)
        if pruned:
            logs.event(log, "prune", items=pruned, older_than=before.isoformat(timespec="seconds"))
        return pruned


@dataclass
class Runner:
    """``aggregator run``: every source on its own schedule, edits of feeds.yaml picked up live."""

    path: Path
    serve: bool | None = None
    reload_seconds: float = 5.0
    health_seconds: float = 300.0
    publish_delay: float = 2.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _pending: set[str] = field(default_factory=set)
    _inflight: set[asyncio.Task[object]] = field(default_factory=set)
    _publish_soon: asyncio.Event = field(default_factory=asyncio.Event)
    _running: set[str] = field(default_factory=set)  # sources being updated now
    _scheduled: dict[str, str] = field(default_factory=dict)  # source -> the url its pending job is for
    _scheduler: Scheduler | None = None
    service: Service = field(init=False)

    async def main(self) -> None:
        from aggregator import serve as serve_module  # aiohttp.web only when serving
        from aggregator.metrics import Metrics
        from aggregator.schedule import Scheduler

        loaded = config_module.load(self.path)
        async with Service(loaded, Metrics()) as service:
            self.service = service
            scheduler = self._scheduler = Scheduler()
            await self._schedule(scheduler)
            scheduler.every("reload", self.reload_seconds, partial(self._reload, scheduler))
            scheduler.every("health", self.health_seconds, self._health)
            scheduler.every("prune", 86400, service.prune)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop.set)
            retagged = await service.retag()
            await service.publisher.publish(retagged.topics if retagged else ())
            site = None
            settings = service.config.settings
            if self.serve or (self.serve is None and settings.serve):
                assert service.metrics is not None
                web = serve_module.Site(lambda: self.service.config, service.store, service.metrics, str(self.path))
                site = await serve_module.start(web, settings.host, settings.port)
            publisher = asyncio.create_task(self._publisher())
            scheduler.start()
            logs.event(log, "run.started", sources=len(service.config.sources), config=str(self.path))
            try:
                await self.stop.wait()
            finally:
                logs.event(log, "run.stopping", inflight=len(self._inflight))
                scheduler.shutdown()
                if self._inflight:
                    await asyncio.wait(self._inflight, timeout=service.config.settings.timeout + 10)
                publisher.cancel()
                await service.publisher.publish(self._pending)
                await self._health()
                if site is not None:
                    await site.cleanup()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                logs.event(log, "run.stopped")

    async def _schedule(self, scheduler: Scheduler) -> None:
        """Match the jobs to the config: each source at the time its saved state says it is due."""
        states = await self.service.store.states()
        wanted = {s.name: s for s in self.service.config.sources if s.enabled}
        for name in scheduler.source_ids() - set(wanted):
            scheduler.remove_source(name)
            self._scheduled.pop(name, None)
        for name, source in wanted.items():
            if name in self._running or self._scheduled.get(name) == source.url:
                continue  # running (it schedules its own next attempt) or scheduled already
            state = states.get(name)
            due = state.next_due if state and state.next_due and state.url == source.url else None
            scheduler.set_source(name, due or datetime.now(UTC), self._job)
            self._scheduled[name] = source.url

    async def _job(self, name: str) -> None:
        """One attempt, then the next one booked at the time the decider chose (even if this one failed)."""
        task = asyncio.current_task()
        if task is None or self.stop.is_set() or name in self._running:
            return
        self._inflight.add(task)
        self._running.add(name)
        self._scheduled.pop(name, None)
        url, due = None, None
        try:
            source = self.service.config.source(name)
            url = source.url
            previous = await self.service.store.state(name)
            result, state = await self.service.pipeline.update(source, previous)
            due = state.next_due
            await self.service.store.save_states([state])
            if result.topics:
                self._pending |= result.topics
                self._publish_soon.set()
        except KeyError:
            return  # removed from feeds.yaml meanwhile
        except Exception:  # the store failed: log it, and try this source again later all the same
            log.exception("update.failed", extra={"source": name})
        finally:
            self._running.discard(name)
            self._inflight.discard(task)
            self._book(name, url, due)

    def _book(self, name: str, url: str | None, due: datetime | None) -> None:
        """Book a source's next attempt if it is still wanted: at ``due``, now if its url changed,
        and never sooner than a second from now, so the attempt that books it has ended by then
        (APScheduler would skip, and drop, a one-shot job whose previous run is still going)."""
        current = next((s for s in self.service.config.sources if s.name == name and s.enabled), None)
        if current is None or self.stop.is_set() or self._scheduler is None:
            return
        soonest = datetime.now(UTC) + timedelta(seconds=1)
        if current.url != url:  # edited meanwhile: try the new address now
            due = soonest
        elif due is None:  # the attempt failed before deciding: try again after the interval
            due = soonest + timedelta(seconds=self.service.config.interval(current))
        self._scheduler.set_source(name, max(due, soonest), self._job)
        self._scheduled[name] = current.url

    async def _health(self) -> None:
        """A periodic summary for operators: how many sources are failing, and which."""
        states = await self.service.store.states()
        enabled = [s.name for s in self.service.config.sources if s.enabled]
        failing = sorted(name for name in enabled if name in states and states[name].error)
        moved = sorted(name for name in enabled if name in states and states[name].moved_to)
        logs.event(
            log,
            "health",
            logging.WARNING if failing else logging.INFO,
            sources=len(enabled),
            failing=len(failing),
            failing_sources=",".join(failing[:20]) or None,
            moved=",".join(moved[:20]) or None,
            never_polled=sum(name not in states for name in enabled),
        )

    async def _publisher(self) -> None:
        """Coalesces bursts of updates into one publish."""
        while True:
            await self._publish_soon.wait()
            await asyncio.sleep(self.publish_delay)
            self._publish_soon.clear()
            pending, self._pending = self._pending, set()
            try:
                await self.service.publisher.publish(pending)
            except Exception:
                log.exception("publish.failed")
                self._pending |= pending

    async def _reload(self, scheduler: Scheduler) -> None:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            logs.event(log, "config.unreadable", logging.ERROR, path=str(self.path), error=str(exc))
            return
        if hashlib.sha256(raw).hexdigest() == self.service.loaded.digest:
            return
        try:
            loaded = config_module.load(self.path)
        except ConfigError as exc:
            for problem in exc.problems:
                logs.event(
                    log,
                    "config.invalid",
                    logging.ERROR,
                    problem=problem,
                    action="keeping the last good config",
                )
            self.service.loaded = LoadedConfig(self.path, self.service.config, hashlib.sha256(raw).hexdigest())
            return
        self.service.reconfigure(loaded)
        await self._schedule(scheduler)
        if self._inflight:  # updates started under the old rules store their items first
            await asyncio.wait(set(self._inflight), timeout=self.service.config.settings.timeout + 10)
        try:
            retagged = await self.service.retag()
        except Exception:
            log.exception("retag.failed")
            self.service.loaded = LoadedConfig(self.path, loaded.config, "")  # so the next check tries again
            return
        await self.service.publisher.publish(retagged.topics if retagged else ())
        logs.event(log, "config.reloaded", sources=len(loaded.config.sources), topics=len(loaded.config.topics))

"""Sources' state, items and topic membership in SQLAlchemy 2 (async): SQLite by default, PostgreSQL too.

Writes for one source happen in one transaction, so a stop mid-run never leaves half an update; an
asyncio lock serialises writers because SQLite has a single writer anyway.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator

from aggregator import dedupe
from aggregator.errors import StoreError
from aggregator.models import Item, PublishedItem, SourceState, StoreResult


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_attempt", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("last_outcome", String(16)),
    Column("http_status", Integer),
    Column("error", Text),
    Column("warning", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("next_due", UTCDateTime),
    Column("next_reason", Text),
    Column("moved_to", Text),
    Column("fetch_url", Text),
    Column("items_new", Integer, nullable=False, default=0),
    Column("items_updated", Integer, nullable=False, default=0),
    Column("bytes", Integer, nullable=False, default=0),
    Column("ms", Integer, nullable=False, default=0),
    Column("feed_title", Text),
    Column("feed_link", Text),
    Column("language", Text),
    Column("body_hash", String(64)),
    Column("feed_ttl", Float),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("guid", Text),
    Column("link", Text),
    Column("cluster", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("author", Text),
    Column("categories", Text, nullable=False),
    Column("published", UTCDateTime),
    Column("updated", UTCDateTime),
    Column("content_hash", String(40), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("title_key", String(40)),
    Column("lead_key", String(40)),
    Column("in_feed", Boolean),  # listed by the source's feed when it was last parsed
    UniqueConstraint("source", "key", name="uq_items_source_key"),
    Index("ix_items_cluster", "cluster"),
    Index("ix_items_title_key", "title_key"),
    Index("ix_items_lead_key", "lead_key"),
)

item_topics = Table(
    "item_topics",
    metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(64), primary_key=True),
    Index("ix_item_topics_topic", "topic"),
)

topics = Table(
    "topics",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

_STATE_COLUMNS = tuple(sources.c.keys())
_ITEM_FIELDS = (
    "guid", "link", "cluster", "title", "summary", "content", "author", "published", "updated", "title_key", "lead_key",
)  # fmt: skip


def _row(item: Item) -> dict[str, Any]:
    row = {f: getattr(item, f) for f in _ITEM_FIELDS}
    row["categories"] = json.dumps(list(item.categories), ensure_ascii=False)
    row["content_hash"] = item.content_hash
    return row


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Store:
    """The database; open with ``async with Store(url) as store``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._write = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreError("the store is not open")
        return self._engine

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_async_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot use the database {url.render_as_string(hide_password=True)}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.run_sync(_add_new_columns)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise StoreError(f"cannot open the database {url.render_as_string(hide_password=True)}: {exc}") from exc
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # --- sources ------------------------------------------------------------------------------------

    async def states(self) -> dict[str, SourceState]:
        names = {f.name for f in fields(SourceState)}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(sources))).mappings().all()
            totals: dict[str, int] = dict(
                (await conn.execute(select(items.c.source, func.count()).group_by(items.c.source))).all()
            )
        return {
            row["name"]: SourceState(
                **{k: v for k, v in row.items() if k in names}, items_total=totals.get(row["name"], 0)
            )
            for row in rows
        }

    async def state(self, name: str) -> SourceState | None:
        """One source's state, without the item count (cheap: ``run`` reads it before every update)."""
        names = {f.name for f in fields(SourceState)}
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(sources).where(sources.c.name == name))).mappings().first()
        return None if row is None else SourceState(**{k: v for k, v in row.items() if k in names})

    async def save_states(self, states: Sequence[SourceState]) -> None:
        """Write sources' states in one transaction (``once`` saves hundreds at a time)."""
        if not states:
            return
        rows = [{column: getattr(state, column) for column in _STATE_COLUMNS} for state in states]
        async with self._write, self.engine.begin() as conn:
            await conn.execute(delete(sources).where(sources.c.name.in_([state.name for state in states])))
            await conn.execute(insert(sources), rows)

    # --- items --------------------------------------------------------------------------------------

    async def store_items(self, source: str, batch: Sequence[Item], seen_at: datetime) -> StoreResult:
        """Insert new items, update changed ones, leave the rest; one transaction per source."""
        if not batch:
            return StoreResult()
        keys = [item.key for item in batch]
        async with self._write, self.engine.begin() as conn:
            existing: dict[str, tuple[int, str]] = {}
            for chunk in _chunks(keys):
                query = select(items.c.key, items.c.id, items.c.content_hash).where(
                    items.c.source == source, items.c.key.in_(chunk)
                )
                existing.update({k: (i, h) for k, i, h in (await conn.execute(query))})
            fresh = [item for item in batch if item.key not in existing]
            changed = [item for item in batch if item.key in existing and existing[item.key][1] != item.content_hash]
            await self._mark_in_feed(conn, source, [i for i, _ in existing.values()])
            if not fresh and not changed:
                return StoreResult()
            fresh = await self._join_stories(conn, fresh)
            touched: set[str] = set()
            memberships: list[dict[str, Any]] = []
            if fresh:
                rows = [
                    {**_row(item), "source": source, "key": item.key, "first_seen": seen_at, "in_feed": True}
                    for item in fresh
                ]
                inserted = (await conn.execute(insert(items).returning(items.c.id, items.c.key), rows)).all()
                ids = dict((k, i) for i, k in inserted)
                memberships += [{"item_id": ids[it.key], "topic": t} for it in fresh for t in it.topics]
            if changed:
                changed_ids = [existing[item.key][0] for item in changed]
                touched |= await self._topics_of(conn, changed_ids)
                for item in changed:
                    values = _row(item)
                    del values["cluster"]  # an edit never moves an item out of the story it was filed with
                    await conn.execute(update(items).where(items.c.id == existing[item.key][0]).values(**values))
                await conn.execute(delete(item_topics).where(item_topics.c.item_id.in_(changed_ids)))
                memberships += [{"item_id": existing[it.key][0], "topic": t} for it in changed for t in it.topics]
            if memberships:
                await conn.execute(insert(item_topics), memberships)
            # A new copy of a story changes how the story is published in every topic it is in.
            clusters = list({item.cluster for item in (*fresh, *changed)})
            for chunk in _chunks(clusters):
                query = (
                    select(item_topics.c.topic)
                    .distinct()
                    .join(items, items.c.id == item_topics.c.item_id)
                    .where(items.c.cluster.in_(chunk))
                )
                touched |= set((await conn.execute(query)).scalars())
        return StoreResult(new=len(fresh), updated=len(changed), topics=frozenset(touched))

    @staticmethod
    async def _mark_in_feed(conn: AsyncConnection, source: str, listed: list[int]) -> None:
        """Which of a source's items its feed lists now: retention never prunes those (they would
        only be stored again at the next change of the feed)."""
        others = update(items).where(items.c.source == source, items.c.in_feed.is_(True))
        if listed:
            others = others.where(items.c.id.not_in(listed))
        await conn.execute(others.values(in_feed=False))
        for chunk in _chunks(listed):
            await conn.execute(update(items).where(items.c.id.in_(chunk)).values(in_feed=True))

    @staticmethod
    async def _join_stories(conn: AsyncConnection, fresh: list[Item]) -> list[Item]:
        """New items whose link starts no known story may be syndicated copies of one: file them with it."""
        clusters = list({item.cluster for item in fresh})
        known: set[str] = set()
        for chunk in _chunks(clusters):
            known |= set((await conn.execute(select(items.c.cluster).where(items.c.cluster.in_(chunk)))).scalars())
        orphans = [item for item in fresh if item.cluster not in known and (item.title_key or item.lead_key)]
        if not orphans:
            return fresh
        # First the cheap columns of every candidate, to apply the guards that need no text...
        light = [items.c.id, items.c.source, items.c.cluster, items.c.title, items.c.published]
        pool: dict[str, dict[int, dedupe.Copy]] = defaultdict(dict)  # near key -> candidates by id
        for column, keys in (
            (items.c.title_key, {i.title_key for i in orphans}),
            (items.c.lead_key, {i.lead_key for i in orphans}),
        ):
            for chunk in _chunks([k for k in keys if k]):
                for row in (await conn.execute(select(*light, column).where(column.in_(chunk)))).all():
                    words = dedupe.title_words(row.title)
                    pool[row[-1]][row.id] = dedupe.Copy(row.source, row.cluster, row.published, words, "")
        mine = {item.key: dedupe.copy_of(item) for item in orphans}
        alike = {
            item.key: {
                i: c
                for key in (item.title_key, item.lead_key)
                for i, c in pool.get(key or "", {}).items()
                if dedupe.alike(mine[item.key], c)
            }
            for item in orphans
        }
        # ...then the text of the few that pass them.
        html: dict[int, str] = {}
        for chunk in _chunks(list({i for found in alike.values() for i in found})):
            query = select(items.c.id, items.c.content, items.c.summary).where(items.c.id.in_(chunk))
            html.update({i: content or summary for i, content, summary in await conn.execute(query)})
        joined = {}
        for item in orphans:
            candidates = [replace(c, html=html.get(i, "")) for i, c in alike[item.key].items()]
            match = dedupe.near_duplicate(mine[item.key], candidates)
            if match is not None:
                joined[item.key] = replace(item, cluster=match.cluster)
        return [joined.get(item.key, item) for item in fresh]

    @staticmethod
    async def _topics_of(conn: AsyncConnection, ids: Sequence[int]) -> set[str]:
        query = select(item_topics.c.topic).distinct().where(item_topics.c.item_id.in_(ids))
        return set((await conn.execute(query)).scalars())

    async def topic_items(self, topic: str, limit: int) -> list[PublishedItem]:
        """The newest ``limit`` stories tagged ``topic``, one per cluster, newest first."""
        async with self.engine.connect() as conn:
            clusters = list((await conn.execute(_published(topic, limit))).scalars())
            if not clusters:
                return []
            rows = (await conn.execute(select(items).where(items.c.cluster.in_(clusters)))).mappings().all()
            ids = [row["id"] for row in rows]
            tags: dict[int, list[str]] = defaultdict(list)
            for chunk in _chunks(ids):
                query = select(item_topics.c.item_id, item_topics.c.topic).where(item_topics.c.item_id.in_(chunk))
                for item_id, name in await conn.execute(query):
                    tags[item_id].append(name)
        members: dict[str, list[tuple[Item, datetime]]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: r["id"]):
            members[row["cluster"]].append((_item(row, tags[row["id"]]), row["first_seen"]))
        published = []
        for cluster in clusters:
            group = members[cluster]
            first = dedupe.primary(group)
            item, seen = group[first]
            others = tuple(member for i, (member, _) in enumerate(group) if i != first)
            published.append(PublishedItem(item=item, first_seen=seen, also=others))
        published.sort(key=lambda p: (p.item.published or p.first_seen, p.item.cluster), reverse=True)
        return published

    async def item_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(items))).scalar_one())

    # --- topics -------------------------------------------------------------------------------------

    async def topic_fingerprints(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            return dict((await conn.execute(select(topics.c.name, topics.c.fingerprint))).all())

    async def set_topic_fingerprints(self, values: dict[str, str]) -> None:
        if not values:
            return
        async with self._write, self.engine.begin() as conn:
            await conn.execute(delete(topics).where(topics.c.name.in_(list(values))))
            await conn.execute(insert(topics), [{"name": k, "fingerprint": v} for k, v in values.items()])

    # --- all items: export and re-tagging --------------------------------------------------------------

    async def all_items(self, chunk: int = 2000) -> AsyncIterator[list[tuple[int, Item]]]:
        """Every stored item with its id, in chunks (memory stays flat however large the store)."""
        last = 0
        while True:
            async with self.engine.connect() as conn:
                rows = (
                    (await conn.execute(select(items).where(items.c.id > last).order_by(items.c.id).limit(chunk)))
                    .mappings()
                    .all()
                )
                if not rows:
                    return
                ids = [row["id"] for row in rows]
                memberships: defaultdict[int, list[str]] = defaultdict(list)
                query = select(item_topics.c.item_id, item_topics.c.topic).where(item_topics.c.item_id.in_(ids))
                for item_id, topic in await conn.execute(query):
                    memberships[item_id].append(topic)
            yield [(row["id"], _item(row, memberships[row["id"]])) for row in rows]
            last = ids[-1]

    async def set_topics(self, changes: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Replace the topics of these items (one transaction)."""
        if not changes:
            return
        async with self._write, self.engine.begin() as conn:
            ids = [item_id for item_id, _ in changes]
            for chunk in _chunks(ids):
                await conn.execute(delete(item_topics).where(item_topics.c.item_id.in_(chunk)))
            rows = [{"item_id": item_id, "topic": t} for item_id, topics in changes for t in topics]
            if rows:
                await conn.execute(insert(item_topics), rows)

    async def prune(self, before: datetime, topics: Iterable[str], limit: int) -> int:
        """Delete items first seen before ``before`` whose story none of ``topics`` publishes (its newest
        ``limit``); returns how many.

        Age counts from when we stored an item, not from its date, and an item its feed still lists
        is kept: it would only be stored again, as new, the next time the feed changes.
        """
        async with self._write, self.engine.begin() as conn:
            listed = items.c.in_feed.is_(True)
            query = select(items.c.id, items.c.cluster).where(items.c.first_seen < before, ~listed)
            old = (await conn.execute(query)).all()
            if not old:
                return 0
            keep: set[str] = set()
            for topic in topics:
                keep |= set((await conn.execute(_published(topic, limit))).scalars())
            ids = [item_id for item_id, cluster in old if cluster not in keep]
            for chunk in _chunks(ids):
                await conn.execute(delete(item_topics).where(item_topics.c.item_id.in_(chunk)))
                await conn.execute(delete(items).where(items.c.id.in_(chunk)))
        return len(ids)

    # --- facts about the whole store -----------------------------------------------------------------

    async def set_meta(self, key: str, value: str) -> None:
        async with self._write, self.engine.begin() as conn:
            await conn.execute(delete(meta).where(meta.c.key == key))
            await conn.execute(insert(meta).values(key=key, value=value))

    async def get_meta(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            value: str | None = (await conn.execute(select(meta.c.value).where(meta.c.key == key))).scalar()
        return value


def _published(topic: str, limit: int) -> Select[Any]:
    """The clusters of a topic's newest ``limit`` stories: what its feeds publish."""
    date = func.min(func.coalesce(items.c.published, items.c.first_seen))
    return (
        select(items.c.cluster, date.label("date"))
        .join(item_topics, item_topics.c.item_id == items.c.id)
        .where(item_topics.c.topic == topic)
        .group_by(items.c.cluster)
        .order_by(date.desc(), items.c.cluster)
        .limit(limit)
    )


def _item(row: Any, topic_names: Iterable[str]) -> Item:
    return Item(
        source=row["source"],
        key=row["key"],
        guid=row["guid"],
        link=row["link"],
        cluster=row["cluster"],
        title=row["title"],
        summary=row["summary"],
        content=row["content"],
        author=row["author"],
        categories=tuple(json.loads(row["categories"])),
        published=row["published"],
        updated=row["updated"],
        topics=tuple(sorted(topic_names)),
        content_hash=row["content_hash"],
        title_key=row["title_key"],
        lead_key=row["lead_key"],
    )


def _add_new_columns(conn: Connection) -> None:
    """Bring a database made by an earlier version up to date.

    Releases so far only add nullable columns, which ``ALTER TABLE ... ADD COLUMN`` does in place
    on both SQLite and PostgreSQL; anything more would call for Alembic.
    """
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.server_default is not None:
                raise StoreError(f"the database needs a migration for {table.name}.{column.name}")
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(conn)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()

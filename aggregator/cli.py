"""Commands and their arguments; the work itself lives in the modules they call."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from aggregator import __version__, logs
from aggregator import config as config_module
from aggregator.errors import AggregatorError, ConfigError
from aggregator.models import SourceState, UpdateResult
from aggregator.normalise import redact
from aggregator.schedule import duration

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class ProgressLine:
    """A single updating line on a terminal; silent when stderr is a file or pipe."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.counts = {"ok": 0, "not_modified": 0, "error": 0}

    def __call__(self, result: UpdateResult, done: int, total: int) -> None:
        self.counts[result.outcome.value] += 1
        if self.live:
            c = self.counts
            self.stream.write(
                f"\r[{done}/{total}] updated {c['ok']} · unchanged {c['not_modified']} · failed {c['error']}   "
            )
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")


def cmd_once(args: argparse.Namespace) -> int:
    from aggregator.service import Service

    loaded = config_module.load(args.config)

    async def main() -> int:
        progress = ProgressLine()
        async with Service(loaded) as service:
            try:
                report = await service.once(args.source, progress)
            finally:
                progress.close()
        for failure in sorted(report.failed, key=lambda r: r.source):
            print(f"{failure.source}: {failure.error}", file=sys.stderr)
        for result in report.results:
            if result.moved_to:
                print(f"{result.source}: moved permanently to {result.moved_to}: update its url in feeds.yaml",
                      file=sys.stderr)  # fmt: skip
        print(json.dumps(report.summary(), ensure_ascii=False))
        return EXIT_OK

    return asyncio.run(main())


def cmd_run(args: argparse.Namespace) -> int:
    from aggregator.service import Runner

    config_module.load(args.config)  # an invalid config stops here, before anything starts
    asyncio.run(Runner(args.config, serve=True if args.serve else None).main())
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    loaded = config_module.load(args.config)
    problems = config_module.offline_problems(loaded)
    if problems:
        raise ConfigError(problems)
    config = loaded.config
    enabled = sum(s.enabled for s in config.sources)
    print(
        f"{args.config}: OK: {len(config.sources)} sources ({enabled} enabled), {len(config.topics)} topics; "
        f"output to {config.settings.output_dir}"
    )
    if args.preview:
        return _preview(loaded, args.preview)
    return EXIT_OK


def _preview(loaded: config_module.LoadedConfig, topic: str, shown: int = 20) -> int:
    from aggregator import retag
    from aggregator.store import Store

    if topic not in {t.name for t in loaded.config.topics}:
        raise ConfigError([f"{loaded.path}: no topic named {topic!r}"])

    async def main() -> retag.Preview:
        async with Store(loaded.settings.database_url) as store:
            return await retag.preview(store, loaded.config, topic)

    result = asyncio.run(main())
    print(
        f"topic {topic}: the current rules select {result.selected} stored items; {result.tagged} are tagged now "
        f"(+{len(result.added)} / -{len(result.dropped)})"
    )
    for sign, changed in (("+", result.added), ("-", result.dropped)):
        for item in sorted(changed, key=lambda i: i.published or datetime.min.replace(tzinfo=UTC), reverse=True)[
            :shown
        ]:
            print(f"  {sign} {item.title} ({item.source})")
        if len(changed) > shown:
            print(f"  {sign} ... and {len(changed) - shown} more")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Every stored item as JSON Lines: source, entry id, story cluster, topics (what score.py reads)."""
    from aggregator.store import Store

    loaded = config_module.load(args.config)
    out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8")  # noqa: SIM115

    async def main() -> int:
        count = 0
        async with Store(loaded.settings.database_url) as store:
            async for chunk in store.all_items():
                for _, item in chunk:
                    record = {
                        "feed": item.source, "id": item.guid or item.link or item.key, "cluster": item.cluster,
                        "topics": list(item.topics), "title": item.title, "link": item.link,
                        "published": item.published.isoformat() if item.published else None,
                    }  # fmt: skip
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += len(chunk)
                if sys.stderr.isatty():
                    print(f"\rexported {count} items", end="", file=sys.stderr)
        return count

    try:
        count = asyncio.run(main())
    finally:
        if out is not sys.stdout:
            out.close()
    start = "\r" if sys.stderr.isatty() else ""
    print(f"{start}exported {count} items", file=sys.stderr)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(config_module.json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_import_opml(args: argparse.Namespace) -> int:
    from aggregator import edit, opml

    try:
        outlines = opml.read(Path(args.file).read_bytes())
    except (OSError, opml.OpmlError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    result = edit.add_sources(args.config, outlines)
    for reason in result.invalid:
        print(f"skipped {reason}", file=sys.stderr)
    print(
        f"{args.config}: added {len(result.added)} sources ({', '.join(result.added) or 'none'}); "
        f"{len(result.present)} already there, {len(result.invalid)} invalid"
    )
    return EXIT_OK


def cmd_export_opml(args: argparse.Namespace) -> int:
    from aggregator import opml

    loaded = config_module.load(args.config)
    outlines = [opml.Outline(s.title or s.name, s.url) for s in loaded.config.sources if s.enabled]
    data = opml.write(f"{loaded.settings.title}: sources", outlines)
    if args.output in (None, "-"):
        sys.stdout.write(data.decode("utf-8"))
    else:
        Path(args.output).write_bytes(data)
    return EXIT_OK


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (when - now).total_seconds()
    text = duration(int(abs(seconds)))
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _size(count: int) -> str:
    for unit, size in (("MB", 10**6), ("KB", 10**3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return f"{count}B"


def _status_rows(loaded: config_module.LoadedConfig) -> list[tuple[str, bool, SourceState | None]]:
    from aggregator.store import Store

    async def main() -> dict[str, SourceState]:
        async with Store(loaded.settings.database_url) as store:
            return await store.states()

    states = asyncio.run(main())
    return [(s.name, s.enabled, states.get(s.name)) for s in loaded.config.sources]


def _status_record(name: str, enabled: bool, state: SourceState | None) -> dict[str, object]:
    """One source for ``status --json``: its state, credentials masked, internals left out."""
    record: dict[str, object] = {"name": name, "enabled": enabled}
    if state is None:
        return record
    for key, value in asdict(state).items():
        if key == "body_hash":
            continue
        if key in ("url", "fetch_url") and isinstance(value, str):
            value = redact(value)
        record[key] = value.isoformat() if isinstance(value, datetime) else value
    return record


def cmd_status(args: argparse.Namespace) -> int:
    loaded = config_module.load(args.config)
    rows = _status_rows(loaded)
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps([_status_record(*row) for row in rows], ensure_ascii=False, indent=2))
        return EXIT_OK
    header = ("SOURCE", "LAST ATTEMPT", "RESULT", "NEW/UPD", "ITEMS", "SIZE", "TIME", "FAILS", "NEXT ATTEMPT", "NOTE")
    table = [header]
    for name, enabled, state in rows:
        if state is None:
            table.append((name, "never", "-" if enabled else "disabled", "-", "0", "-", "-", "0", "-", ""))
            continue
        result = state.last_outcome or "-"
        if state.http_status:
            result += f" {state.http_status}"
        notes = [state.error or state.warning or ""]
        if state.moved_to:
            notes.insert(0, f"moved permanently to {state.moved_to}: update its url in feeds.yaml")
        following = f"{_ago(state.next_due, now)} ({state.next_reason or 'interval'})" if enabled else "-"
        table.append((
            name, _ago(state.last_attempt, now), result if enabled else f"disabled ({result})",
            f"{state.items_new}/{state.items_updated}", str(state.items_total), _size(state.bytes),
            f"{state.ms}ms", str(state.consecutive_failures), following, "; ".join(n for n in notes if n),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from aggregator import serve

    loaded = config_module.load(args.config)
    host, port = args.host or loaded.settings.host, args.port or loaded.settings.port
    print(f"serving {loaded.settings.output_dir} on http://{host}:{port}/", file=sys.stderr)
    asyncio.run(serve.serve_output(loaded, host, port))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from aggregator import demo

    return asyncio.run(demo.main(args.dir, serve_output=not args.no_serve, port=args.port))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aggregator", description="Poll feeds, tag stories by topic, republish.")
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", type=Path, default=Path("feeds.yaml"), help="default: ./feeds.yaml")
        return sub

    once = command("once", "poll every enabled source now (or one), then publish changed topics")
    once.add_argument("--source", metavar="NAME", help="poll only this source, whatever its schedule says")
    once.set_defaults(func=cmd_once, log_default="ERROR")
    run = command("run", "the long-running service: polls on schedule, republishes, reloads feeds.yaml edits")
    run.add_argument("--serve", action="store_true", help="also serve the output (else settings.serve)")
    run.set_defaults(func=cmd_run, log_default="INFO")
    check = command("check", "validate feeds.yaml offline; every problem with file:line")
    check.add_argument("--preview", metavar="TOPIC", help="dry-run TOPIC's rules over the stored items")
    check.set_defaults(func=cmd_check)
    export = command("export", "every stored item as JSON Lines (source, id, story cluster, topics)")
    export.add_argument("--output", "-o", metavar="FILE", help="default: standard output")
    export.set_defaults(func=cmd_export)
    schema = command("schema", "print the JSON Schema of feeds.yaml")
    schema.set_defaults(func=cmd_schema)
    import_opml = command("import-opml", "add the feeds of an OPML file to feeds.yaml, keeping its comments")
    import_opml.add_argument("file", help="an OPML subscription list")
    import_opml.set_defaults(func=cmd_import_opml)
    export_opml = command("export-opml", "write the enabled sources as an OPML subscription list")
    export_opml.add_argument("--output", "-o", metavar="FILE", help="default: standard output")
    export_opml.set_defaults(func=cmd_export_opml)
    status = command("status", "one row per source: last attempt, result, items, failures, next due")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    serve = command("serve", "serve the published output over HTTP")
    serve.add_argument("--host", help="default: settings.host (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: settings.port (8080)")
    serve.set_defaults(func=cmd_serve, log_default="INFO")
    demo = commands.add_parser(
        "demo", help="offline demo: serve bundled sample feeds, aggregate them, serve the result"
    )
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="where the demo's config, database and output go")
    demo.add_argument("--port", type=int, default=8080, help="port for the result (default 8080)")
    demo.add_argument("--no-serve", action="store_true", help="build the output and exit")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level if "--log-level" in (argv or sys.argv) else getattr(args, "log_default", args.log_level)
    logs.setup(level)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in the config; nothing was fetched or written.", file=sys.stderr)
        return EXIT_CONFIG
    except AggregatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130

"""Structured logging: an event name and key=value fields, one line each (no business logic)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _value(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """``2026-11-24T10:00:00 INFO fetch source=telset status=304 ms=42``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        parts = [self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), record.levelname, record.getMessage()]
        parts += [f"{k}={_value(v)}" for k, v in fields.items() if v is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level: str = "INFO") -> None:
    """Log to stderr; idempotent so tests and ``run`` reloads may call it again."""
    root = logging.getLogger("aggregator")
    root.setLevel(level.upper())
    root.propagate = False
    if not any(getattr(h, "_aggregator", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter())
        handler._aggregator = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event: ``event(log, "fetch", source="telset", status=304)``."""
    logger.log(level, name, extra=fields)

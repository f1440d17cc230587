"""One root error; each phase has its own subclass, carrying the source name where there is one."""

from __future__ import annotations

from collections.abc import Mapping


class AggregatorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(AggregatorError):
    """feeds.yaml is unreadable or invalid; ``problems`` lists each one as ``file:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class SourceError(AggregatorError):
    """A failure updating one source; the message is written for the maintainer of feeds.yaml."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}")


class FetchError(SourceError):
    """The HTTP request failed or was refused (network, status, limits)."""

    def __init__(
        self, source: str, message: str, http_status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.http_status = http_status
        self.headers: Mapping[str, str] = headers or {}  # Retry-After and Date, for the schedule
        super().__init__(source, message)


class ParseError(SourceError):
    """The response is not a feed we can read."""


class StoreError(AggregatorError):
    """The database cannot be opened or written."""

"""Logging for `python -m exhibit`: ids only, at any level.

Two lines of defence. First, the chatty third-party loggers are pinned to WARNING whatever
EXHIBIT_LOG_LEVEL says: at DEBUG/INFO they log request URLs (SAS and pre-authenticated download
URLs), headers (bearer tokens), whole activities (names, text) and access lines (`/s/<token>`).
Our own log calls carry ids, never file names, case titles or recipients. Second, a filter on
every root handler redacts what looks like a secret in whatever still gets through: URL query
strings, `sig=`/`tempauth=`-style parameters, bearer tokens, JWTs, share-link tokens, account
keys and e-mail addresses.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from opentelemetry import trace

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

QUIET_LOGGERS = (
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "msal",
    "urllib3",
    "aiohttp.access",
    "aiohttp.client",
    "microsoft_agents",
    "kiota_abstractions",
    "kiota_http",
    "kiota_authentication_azure",
    "httpx",
    "httpcore",
    "msgraph",
    "msgraph_core",
    "hpack",
    "sqlalchemy.engine",
    "aiosqlite",
    "asyncpg",
    "asyncio",
)

_SENSITIVE_PARAMETERS = (
    "sig|tempauth|token|access_token|refresh_token|id_token|code|client_secret|"
    "client_assertion|password|skoid|sktid|AccountKey|SharedAccessSignature"
)
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Pre-authenticated URLs carry their secret in the query: keep only where they point.
    (re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*"), r"\1?[query redacted]"),
    (re.compile(rf"(?i)\b({_SENSITIVE_PARAMETERS})=[^&;\s\"'<>]+"), r"\1=[redacted]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[jwt redacted]"),
    (re.compile(r"/s/[A-Za-z0-9_-]{16,}"), "/s/[token redacted]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[e-mail redacted]"),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a secret or an address replaced."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and exception text through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not stop the program; log what it said
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def quiet_third_party_loggers() -> None:
    """Pin the loggers that would log URLs, headers or activities to WARNING."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and the trace and span ids
    of the span the record was logged in (when telemetry is on and there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, *, json_lines: bool | None = None) -> None:
    """Root logging at `level`, third-party loggers pinned, every root handler redacting.

    Lines go to stderr: JSON lines (`JsonLinesFormatter`) when it is not a terminal (a
    container, a service manager), plain text on a terminal; `json_lines` overrides.
    """
    logging.basicConfig(level=level, format=FORMAT)
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    if json_lines:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLinesFormatter())
    quiet_third_party_loggers()
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


# The Agents SDK builds a user-token client for every request and, without an app id (anonymous
# development mode), warns each time: 185 of 421 lines of a short session. Said once at start.
TOKEN_CLIENT_LOGGER = "microsoft_agents.hosting.core.connector.client.user_token_client"  # noqa: S105
NO_APP_ID = "App ID is not provided"


class DropMessageFilter(logging.Filter):
    """Drops the records whose message starts with `prefix`."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def drop_repeated_no_app_id_warning() -> None:
    """Stop the SDK's per-request "App ID is not provided" warning (anonymous mode only)."""
    sdk_logger = logging.getLogger(TOKEN_CLIENT_LOGGER)
    if not any(isinstance(f, DropMessageFilter) for f in sdk_logger.filters):
        sdk_logger.addFilter(DropMessageFilter(NO_APP_ID))

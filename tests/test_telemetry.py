"""Telemetry set-up: nothing without settings, and log lines as JSON with trace ids."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

from opentelemetry.sdk.trace import TracerProvider

from exhibit.log_config import JsonLinesFormatter, RedactingFilter
from exhibit.telemetry import exporter_for


def test_the_exporter_follows_the_settings() -> None:
    assert exporter_for({}) is None
    assert exporter_for({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == "otlp"
    both = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}  # fmt: skip
    assert exporter_for(both) == "azure-monitor"


def test_without_settings_no_telemetry_sdk_is_loaded() -> None:
    # The whole service composed, telemetry asked for with no settings: no providers, no
    # exporter. (The Agents SDK itself imports `opentelemetry.sdk.resources`.)
    code = (
        "import sys, exhibit.composition, exhibit.telemetry as t\n"
        "print(t.configure_telemetry({}), sorted(m for m in sys.modules if m.startswith(("
        "'opentelemetry.sdk.trace', 'opentelemetry.sdk.metrics', 'opentelemetry.sdk._logs', "
        "'opentelemetry.exporter', 'azure.monitor'))))"
    )
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "None []"


def test_log_lines_are_json_with_the_trace_id_and_stay_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("exhibit.test.json")
    log.addHandler(handler)
    log.propagate = False
    tracer = TracerProvider().get_tracer("exhibit.test")
    try:
        with tracer.start_as_current_span("work") as span:
            log.warning("sent to %s", "someone@example.org")
        log.warning("outside any span")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "sent to [e-mail redacted]"
    assert first["level"] == "WARNING"
    assert first["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert first["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in second

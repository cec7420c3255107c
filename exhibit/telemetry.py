"""Telemetry: OpenTelemetry traces, metrics and logs, set up once at start-up.

`APPLICATIONINSIGHTS_CONNECTION_STRING` set: the Azure Monitor distro
(`configure_azure_monitor`). Else `OTEL_EXPORTER_OTLP_ENDPOINT` set: the OTLP exporters over
HTTP (the standard `OTEL_*` variables tune them). Neither: nothing is imported or started, and
the OpenTelemetry API the adapters call stays a no-op.

The adapters emit at the seams with the OpenTelemetry *API* only (the domain, `evidence`,
imports none of it): `exhibit.turn` (bot), `exhibit.intake.job` (worker), `exhibit.graph.request`
(graph), `exhibit.db.unit` (storage), `exhibit.link.request` (link site). Attributes are ids,
names of commands and fixed codes: never what people typed, names, file names, case titles,
addresses or tokens (`tests/security/test_telemetry_privacy.py`). The distro's automatic
instrumentations (HTTP clients, Azure SDK) are switched off: they would record request URLs,
which carry SAS signatures, Graph paths with addresses, and pre-authenticated download links.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from exhibit.log_config import RedactingFilter, redact

if TYPE_CHECKING:  # the SDK is imported only when telemetry is on
    from opentelemetry.sdk._logs import LogRecordProcessor
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor

logger = logging.getLogger(__name__)

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_NAME = "OTEL_SERVICE_NAME"

# Every automatic instrumentation the Azure Monitor distro knows, switched off (see above).
_DISTRO_INSTRUMENTATIONS = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "httpx2",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)

_state: dict[str, str] = {}


def exporter_for(env: Mapping[str, str]) -> str | None:
    """Which exporter the environment asks for: "azure-monitor", "otlp", or None (off)."""
    if env.get(CONNECTION_STRING, "").strip():
        return "azure-monitor"
    if env.get(OTLP_ENDPOINT, "").strip():
        return "otlp"
    return None


def enabled() -> str | None:
    """The exporter configured in this process, or None when telemetry is off."""
    return _state.get("exporter")


def configure_telemetry(env: Mapping[str, str] | None = None, *, role: str = "serve") -> str | None:
    """Set up telemetry for this process as `env` asks; the exporter used, or None.

    `role`: "serve" or "worker", recorded as the resource attribute `exhibit.role`.
    """
    env = os.environ if env is None else env
    exporter = exporter_for(env)
    if exporter is None or enabled() is not None:
        return enabled()
    if exporter == "azure-monitor":
        _azure_monitor(env, role)
    else:
        _otlp(env, role)
    _redact_every_root_handler()
    _state["exporter"] = exporter
    logger.info("Telemetry on: exporting to %s", exporter)
    return exporter


def _resource(env: Mapping[str, str], role: str) -> Resource:
    from opentelemetry.sdk.resources import Resource

    name = env.get(SERVICE_NAME) or ("exhibit-worker" if role == "worker" else "exhibit")
    return Resource.create({"service.name": name, "exhibit.role": role})


def _azure_monitor(env: Mapping[str, str], role: str) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=env[CONNECTION_STRING].strip(),
        resource=_resource(env, role),
        logger_name="",
        log_record_processors=[redacting_log_processor()],
        enable_live_metrics=False,
        instrumentation_options={name: {"enabled": False} for name in _DISTRO_INSTRUMENTATIONS},
    )
    only_exhibit_spans()


def _otlp(env: Mapping[str, str], role: str) -> None:
    # The exporters read OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT, ...) themselves.
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    install(
        resource=_resource(env, role),
        span_processor=BatchSpanProcessor(OTLPSpanExporter()),
        metric_reader=PeriodicExportingMetricReader(OTLPMetricExporter()),
        log_processor=BatchLogRecordProcessor(OTLPLogExporter()),
    )


def install(
    *,
    resource: Resource,
    span_processor: SpanProcessor,
    metric_reader: MetricReader,
    log_processor: LogRecordProcessor,
) -> None:
    """Global tracer, meter and logger providers feeding these processors, and the root logger
    handing its (redacted) records to OpenTelemetry. Once per process."""
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(span_processor)
    trace.set_tracer_provider(tracer_provider)
    only_exhibit_spans()
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[metric_reader]))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(redacting_log_processor())
    logger_provider.add_log_record_processor(log_processor)
    set_logger_provider(logger_provider)
    handler = LoggingHandler(logger_provider=logger_provider)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)


def redacting_log_processor() -> LogRecordProcessor:
    """A processor, registered before any exporter's, that passes each log record's body and
    string attributes through `redact` once more.

    The root handlers' `RedactingFilter` rewrites the message and the formatted traceback, but
    OpenTelemetry's logging handler reads the exception object itself (`exception.message`,
    `exception.stacktrace`), which may carry an address or a pre-authenticated URL.
    """
    from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

    class Redacting(LogRecordProcessor):
        def on_emit(self, log_record: ReadWriteLogRecord) -> None:
            record = log_record.log_record
            if isinstance(record.body, str):
                record.body = redact(record.body)
            attributes = record.attributes
            if attributes is None:
                return
            for key, value in list(attributes.items()):
                if isinstance(value, str):
                    attributes[key] = redact(value)  # type: ignore[index]

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return Redacting()


def only_exhibit_spans() -> None:
    """Record only the spans of Exhibit's own tracers (scopes `exhibit.*`).

    The Agents SDK traces on its own (scope `microsoft_agents`) with conversation ids, activity
    ids and service URLs as attributes; those spans become non-recording, and ours nest under
    the nearest recording parent. (The SDK's tracer configurator is still experimental.)
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider, _TracerConfig

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider._set_tracer_configurator(
            tracer_configurator=lambda scope: _TracerConfig(
                is_enabled=scope.name.startswith("exhibit")
            )
        )


def _redact_every_root_handler() -> None:
    """The handler an exporter added redacts too (the redaction is idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())

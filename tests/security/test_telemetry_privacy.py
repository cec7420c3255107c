"""Telemetry carries no personal data: ids, command names and fixed codes only.

In-memory span, metric and log exporters are installed through `exhibit.telemetry.install` (what
the OTLP set-up uses). A whole journey runs: a case opened in the channel, a file added (the
intake worker), a refusal, a share requested and approved, the link opened and downloaded. Then
every exported span (name, attributes, events, resource), metric (name, point attributes) and
log record (body, attributes) is searched for the journey's own names, file name, case title,
references, addresses, reason and link token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession
from opentelemetry import trace
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exhibit.log_config import quiet_third_party_loggers
from exhibit.telemetry import install
from graph.graph_directory import open_graph_directory
from tests.fakes.tenant import FakeTenant
from tests.support.connector import personal_chat
from tests.support.conversation import Conversation, teams_file
from tests.support.people import JANE, LIAM, RAVI, SARAH
from tests.test_graph_directory import ROLE_GROUPS
from tests.test_graph_directory import tenant as tenant  # the fixture
from tests.test_sharing import PDF, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

REFERENCE = "MET-24-0777"
TITLE = "Burglary at Quillfeather Cottage"
REASON = "Crown Court bundle for Marchbanks"
RECIPIENT = "Prosecutor.Quayle@cps.gov.uk"


@dataclass
class Exported:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter


_installed: list[Exported] = []


@pytest.fixture
def exported() -> Iterator[Exported]:
    """The process's telemetry, exported in memory (installed once: providers are global)."""
    if not _installed:
        if isinstance(trace.get_tracer_provider(), TracerProvider):
            pytest.fail("another test installed telemetry providers")
        logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        parts = Exported(InMemorySpanExporter(), InMemoryMetricReader(), logs)
        install(
            resource=Resource.create({"service.name": "exhibit-test"}),
            span_processor=SimpleSpanProcessor(parts.spans),
            metric_reader=parts.metrics,
            log_processor=SimpleLogRecordProcessor(parts.logs),
        )
        _installed.append(parts)
    parts = _installed[0]
    root = logging.getLogger()
    level = root.level
    root.setLevel(
        logging.DEBUG
    )  # our own loggers at every level; third-party ones as in production
    quiet_third_party_loggers()
    parts.spans.clear()
    parts.logs.clear()
    try:
        yield parts
    finally:
        root.setLevel(level)


@pytest.fixture
async def journey(
    team: Conversation, file_url: str, exported: Exported
) -> tuple[Exported, list[str]]:
    """Run the journey; the strings that must never appear in telemetry."""
    await team.say(f"case open {REFERENCE} {TITLE}")
    await team.say(f"add {REFERENCE}", [teams_file("statement-of-Marchbanks.pdf", file_url)])
    await team.wait_for_update("Exhibit JS/1")
    await team.say(f"case show {REFERENCE}", sender=LIAM)  # off the case: a refusal
    requested = await team.say(f"share JS/1 with {RECIPIENT} for 7d reason {REASON}")
    share_id = _share_id(requested)
    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)
    links = [str(b) for b in team.recorder.posted_to(personal_chat(JANE.teams_id))]
    match = re.search(r"/s/([A-Za-z0-9_-]{43,})", links[-1])
    assert match is not None
    token = match.group(1)
    assert (await team.client.get(f"/s/{token}")).status == 200
    download = await team.client.get(f"/s/{token}/1", allow_redirects=False)
    assert download.status == 302
    sas_url = download.headers["Location"]
    async with ClientSession() as browser, browser.get(sas_url) as blob:
        assert await blob.read() == PDF
    assert (await team.client.get("/s/" + "x" * 43)).status == 404  # an unknown link: refused
    signature = re.search(r"sig=([^&]+)", sas_url)
    assert signature is not None
    forbidden = [
        *(p.name for p in (JANE, LIAM, RAVI, SARAH)),
        *(p.name.split()[-1] for p in (JANE, LIAM, RAVI, SARAH)),  # surnames alone
        "statement-of-Marchbanks",
        "Marchbanks",
        "Quillfeather",
        TITLE,
        REASON,
        REFERENCE,
        "JS/1",
        share_id,
        RECIPIENT,
        "cps.gov.uk",
        token,
        signature.group(1),
        file_url,
        "/s/" + "x" * 43,
    ]
    return exported, forbidden


def _spans(exported: Exported) -> list[dict[str, Any]]:
    return [json.loads(s.to_json()) for s in exported.spans.get_finished_spans()]


def _metrics(exported: Exported) -> list[dict[str, Any]]:
    data = exported.metrics.get_metrics_data()
    return [] if data is None else json.loads(data.to_json())["resource_metrics"]


def _logs(exported: Exported) -> list[dict[str, Any]]:
    return [json.loads(r.to_json()) for r in exported.logs.get_finished_logs()]


def _span_named(spans: list[dict[str, Any]], name: str, **attributes: object) -> dict[str, Any]:
    for span in spans:
        if span["name"] == name and all(
            span["attributes"].get(k) == v for k, v in attributes.items()
        ):
            return span
    raise AssertionError(f"no span {name} with {attributes}")


def _metric_names(metrics: list[dict[str, Any]]) -> set[str]:
    return {
        metric["name"]
        for resource in metrics
        for scope in resource["scope_metrics"]
        for metric in scope["metrics"]
    }


async def test_telemetry_carries_no_personal_data(
    journey: tuple[Exported, list[str]],
) -> None:
    exported, forbidden = journey
    spans, metrics, logs = _spans(exported), _metrics(exported), _logs(exported)
    # The journey was seen (else the search below proves nothing).
    _span_named(spans, "exhibit.turn", **{"exhibit.command": "case open", "exhibit.outcome": "ok"})
    _span_named(spans, "exhibit.turn", **{"exhibit.command": "case show",
                                          "exhibit.outcome": "not_found"})  # fmt: skip
    _span_named(spans, "exhibit.intake.job", **{"exhibit.job.bytes": len(PDF),
                                                "exhibit.outcome": "recorded"})  # fmt: skip
    _span_named(spans, "exhibit.db.unit")
    _span_named(spans, "exhibit.link.request", **{"http.route": "/s/{token}/{n}",
                                                  "http.response.status_code": 302})  # fmt: skip
    assert {
        "exhibit.ingest.bytes",
        "exhibit.link.downloads",
        "exhibit.share.approval.latency",
        "exhibit.refusals",
        "exhibit.intake.job.duration",
    } <= _metric_names(metrics)
    assert logs, "no log record was exported"
    # Nothing personal, no reference, no token, anywhere.
    everything = {"spans": spans, "metrics": metrics, "logs": logs}
    text = json.dumps(everything).lower()
    found = sorted({item for item in forbidden if item.lower() in text})
    for item in found:
        at = text.index(item.lower())
        print(text[max(0, at - 300) : at + 100])
    assert not found, f"telemetry carries {found}"
    addresses = re.findall(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", text)
    assert not addresses


async def test_an_exception_logged_keeps_no_address_or_signature(exported: Exported) -> None:
    # OpenTelemetry's logging handler reads the exception object itself (`exception.message`,
    # `exception.stacktrace`), past the root handlers' filter on the message and traceback.
    secret = "https://blob.example/evidence/x.pdf?sv=2025&sig=AbCdEf0123456789"
    try:
        raise RuntimeError(f"upload for {RECIPIENT} failed at {secret}")
    except RuntimeError:
        logging.getLogger("exhibit.test.privacy").exception("Upload failed")
    logs = _logs(exported)
    record = next(r for r in logs if r["body"] == "Upload failed")
    assert record["attributes"]["exception.type"] == "RuntimeError"
    assert "[e-mail redacted]" in record["attributes"]["exception.message"]
    text = json.dumps(logs).lower()
    assert RECIPIENT.lower() not in text
    assert "abcdef0123456789" not in text


async def test_graph_requests_are_spans_with_the_resource_and_status_only(
    exported: Exported, tenant: FakeTenant
) -> None:
    directory = await open_graph_directory(tenant.config(role_groups=ROLE_GROUPS))
    try:
        officer = await directory.officer(JANE.object_id)
    finally:
        await directory.aclose()
    assert officer is not None
    assert officer.email == "jane.smith@met.example"
    graph = [s for s in _spans(exported) if s["name"] == "exhibit.graph.request"]
    assert [s["attributes"] for s in graph] == [
        {
            "http.request.method": "POST",
            "exhibit.graph.resource": "$batch",
            "http.response.status_code": 200,
        }
    ]
    text = json.dumps(graph).lower()
    for item in (JANE.object_id, "jane.smith", "Jane Smith", "transitiveMemberOf", "/users/"):
        assert item.lower() not in text

"""Spans that never carry an exception's text: shared by the adapters (OpenTelemetry API only).

OpenTelemetry records an escaping exception's message and stack as span events, and puts the
message in the status; both can hold a file name, an address or a URL. `span` records only the
exception's type (`error.type`) and an error status without description.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, StatusCode
from opentelemetry.util.types import AttributeValue

# Counted wherever a mismatch is found (the sweep, `evidence verify`, a share's re-verification).
integrity_failures = metrics.get_meter("exhibit").create_counter(
    "exhibit.integrity.failures",
    unit="{exhibit}",
    description="Exhibits whose stored bytes did not match their intake record, by where found",
)


# The fixed set of refusal reasons, the bot's and the link site's.
REFUSAL_CODES = frozenset(
    {"not_enrolled", "not_found", "not_permitted", "reason_required", "link_unavailable",
     "rate_limited"}
)  # fmt: skip
refusals = metrics.get_meter("exhibit").create_counter(
    "exhibit.refusals",
    unit="{refusal}",
    description="Requests refused, by reason code (REFUSAL_CODES)",
)


@contextmanager
def span(
    tracer: trace.Tracer, name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[Span]:
    """A current span named `name`; an exception leaving it is noted by type only."""
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as err:
            current.set_attribute("error.type", type(err).__name__)
            current.set_status(StatusCode.ERROR)
            raise

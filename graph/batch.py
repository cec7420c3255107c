"""JSON `$batch` over the SDK's own request adapter, parsed here.

msgraph-core's batch models lose the response bodies (NOTES.md), so the batch body is written
and read as plain JSON; the requests inside it still come from the SDK's request builders, and
the POST goes through the adapter's full pipeline (token, retry on 429/503/504, telemetry).
Graph throttles each request inside a batch on its own: those answered 429/503/504 are sent
again, after their `Retry-After`, while the wait fits in the caller's budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kiota_abstractions.method import Method
from kiota_abstractions.request_adapter import RequestAdapter
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from graph.errors import GraphProtocolError

logger = logging.getLogger(__name__)

MAX_BATCH = 20  # Graph's documented limit of requests in one $batch
RETRYABLE = frozenset({429, 503, 504})
ERROR_MAPPING: dict[str, Any] = {"XXX": ODataError}
_ENCODED_NAME = re.compile(r"(?<=[?&])%24")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One GET inside a batch, built with an SDK request builder."""

    id: str
    request: RequestInformation


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What Graph answered to one request of a batch."""

    status: int
    headers: Mapping[str, str]
    body: Any

    def retry_after(self) -> float | None:
        """Seconds asked for in `Retry-After`, if given as a number."""
        for name, value in self.headers.items():
            if name.lower() == "retry-after":
                try:
                    return max(0.0, float(value))
                except ValueError:
                    return None
        return None


class BatchRunner:
    """Sends GETs to Graph in `$batch` requests of at most 20."""

    def __init__(
        self,
        adapter: RequestAdapter,
        *,
        max_retries: int,
        retry_delay: float,
        max_wait: float,
        parallel: int = 4,
    ) -> None:
        self._adapter = adapter
        self._max_retries = max_retries
        self._retry_delay = retry_delay
        self._max_wait = max_wait
        self._slots = asyncio.Semaphore(parallel)

    async def run(self, items: Sequence[BatchItem]) -> dict[str, BatchResult]:
        """Every item's final answer, keyed by item id."""
        if len({item.id for item in items}) != len(items):
            raise ValueError("batch item ids must be unique")
        results: dict[str, BatchResult] = {}
        pending = list(items)
        attempt = 0
        while pending:
            answered = await self._send_all(pending)
            again: list[BatchItem] = []
            wait = 0.0
            for item in pending:
                result = answered[item.id]
                results[item.id] = result
                if result.status in RETRYABLE and attempt < self._max_retries:
                    again.append(item)
                    delay = result.retry_after()
                    wait = max(wait, self._retry_delay * 2**attempt if delay is None else delay)
            if not again or wait > self._max_wait:
                break
            logger.info("graph batch: %s requests throttled, again in %ss", len(again), wait)
            await asyncio.sleep(wait)
            pending = again
            attempt += 1
        return results

    async def _send_all(self, items: Sequence[BatchItem]) -> dict[str, BatchResult]:
        chunks = [items[i : i + MAX_BATCH] for i in range(0, len(items), MAX_BATCH)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._send(chunk)) for chunk in chunks]
        except ExceptionGroup as failed:
            # The first failure stands for the batch; the others were cancelled or alike.
            raise failed.exceptions[0] from failed
        answered: dict[str, BatchResult] = {}
        for task in tasks:
            answered.update(task.result())
        return answered

    async def _send(self, chunk: Sequence[BatchItem]) -> dict[str, BatchResult]:
        body = {"requests": [_serialize(item) for item in chunk]}
        request = RequestInformation(Method.POST, "{+baseurl}/$batch", {})
        request.headers.try_add("Content-Type", "application/json")
        request.headers.try_add("Accept", "application/json")
        request.content = json.dumps(body, separators=(",", ":")).encode()
        async with self._slots:
            raw = await send_for_bytes(self._adapter, request)
        return _parse(raw, {item.id for item in chunk})


async def send_for_bytes(adapter: RequestAdapter, request: RequestInformation) -> bytes:
    """Send through the adapter's pipeline and return the raw body; OData errors raise."""
    # kiota types this method's result as a free TypeVar, which mypy reads as None.
    send: Callable[..., Awaitable[object]] = adapter.send_primitive_async
    raw = await send(request, "bytes", ERROR_MAPPING)
    if not isinstance(raw, bytes):
        raise GraphProtocolError("Graph answered without a body")
    return raw


def _serialize(item: BatchItem) -> dict[str, Any]:
    request = item.request
    if request.http_method is not Method.GET:
        raise ValueError("only GET requests are batched here")
    # An empty base URL renders the SDK's URL template relative, as $batch wants it.
    request.path_parameters["baseurl"] = ""
    url = _ENCODED_NAME.sub("$", str(request.url))
    if not url.startswith("/"):
        raise ValueError("batched request URL must be relative")
    return {
        "id": item.id,
        "method": "GET",
        "url": url,
        "headers": dict(request.request_headers or {}),
    }


def _parse(raw: bytes, expected: set[str]) -> dict[str, BatchResult]:
    try:
        document = json.loads(raw)
    except ValueError as err:
        raise GraphProtocolError("$batch body is not JSON") from err
    responses = document.get("responses") if isinstance(document, dict) else None
    if not isinstance(responses, list):
        raise GraphProtocolError("$batch body has no responses")
    results: dict[str, BatchResult] = {}
    for response in responses:
        if not isinstance(response, dict):
            raise GraphProtocolError("$batch response is not an object")
        item_id, status = response.get("id"), response.get("status")
        if item_id not in expected or not isinstance(status, int):
            raise GraphProtocolError("$batch response has an unknown id or no status")
        headers = response.get("headers") or {}
        if not isinstance(headers, dict):
            raise GraphProtocolError("$batch response headers are not an object")
        results[item_id] = BatchResult(
            status=status,
            headers={str(k): str(v) for k, v in headers.items()},
            body=response.get("body"),
        )
    if set(results) != expected:
        raise GraphProtocolError("$batch answer is missing responses")
    return results

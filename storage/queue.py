"""The ingest queue on Azure Storage Queues (Azurite locally): one message per intake job.

A message carries only the job id; the job's state lives in the database. A received message
stays invisible while a worker holds it (the worker extends that), and reappears by itself if
the worker dies: that is how a crashed ingest is picked up again.

The Queue SDK is loaded on first use, in a thread: it is not needed to answer `/readyz`, and
loading it on the event loop would hold every request of a starting service behind it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from evidence.errors import Transient
from storage.blobs import API_VERSION

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage
    from azure.storage.queue.aio import QueueClient

SDK = "azure.storage.queue.aio"

logger = logging.getLogger(__name__)


class QueueUnavailable(Transient):
    """The queue service did not answer; try again later."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A received message: the job it names and how to extend, release or finish it."""

    job_id: str
    message_id: str
    pop_receipt: str
    dequeue_count: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """The queue's length and how long its oldest visible message has waited."""

    depth: int
    oldest_seconds: float


class IngestQueue:
    """Send, receive, extend and delete intake job messages."""

    def __init__(self, open_client: Callable[[type[QueueClient]], QueueClient]) -> None:
        self._open_client = open_client
        self._client: QueueClient | None = None
        self._opening = asyncio.Lock()
        self._created = False

    @classmethod
    def from_connection_string(cls, connection_string: str, name: str) -> IngestQueue:
        """A queue in the account of `connection_string`."""

        def open_client(client: type[QueueClient]) -> QueueClient:
            return client.from_connection_string(connection_string, name, api_version=API_VERSION)

        return cls(open_client)

    @classmethod
    def from_account_url(
        cls, account_url: str, name: str, credential: AsyncTokenCredential
    ) -> IngestQueue:
        """A queue in the account at `account_url`, reached with an Entra identity (no key)."""

        def open_client(client: type[QueueClient]) -> QueueClient:
            return client(account_url, name, credential=credential, api_version=API_VERSION)

        return cls(open_client)

    async def _queue(self) -> QueueClient:
        """The client, made on first use (its SDK imported off the event loop)."""
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    sdk = await asyncio.to_thread(importlib.import_module, SDK)
                    self._client = self._open_client(sdk.QueueClient)
        return self._client

    async def ensure(self) -> None:
        """Create the queue if it does not exist."""
        if self._created:
            return
        client = await self._queue()
        try:
            await client.create_queue()
        except ResourceExistsError:
            pass
        except AzureError as err:
            raise QueueUnavailable(type(err).__name__) from err
        self._created = True

    async def send(self, job_id: str, *, delay_seconds: int = 0) -> None:
        """Queue the job (visible after `delay_seconds`)."""
        await self.ensure()
        client = await self._queue()
        try:
            await client.send_message(job_id, visibility_timeout=delay_seconds or None)
        except AzureError as err:
            raise QueueUnavailable(type(err).__name__) from err

    async def receive(self, *, hold_seconds: int, limit: int = 1) -> list[Lease]:
        """Up to `limit` messages, each invisible to others for `hold_seconds`."""
        await self.ensure()
        client = await self._queue()
        leases = []
        try:
            async for message in client.receive_messages(
                messages_per_page=limit, visibility_timeout=hold_seconds, max_messages=limit
            ):
                leases.append(_lease(message))
        except AzureError as err:
            raise QueueUnavailable(type(err).__name__) from err
        return leases

    async def extend(self, lease: Lease, hold_seconds: int) -> Lease:
        """Keep the message invisible for another `hold_seconds` (a new pop receipt)."""
        client = await self._queue()
        try:
            updated = await client.update_message(
                lease.message_id, lease.pop_receipt, visibility_timeout=hold_seconds
            )
        except AzureError as err:
            raise QueueUnavailable(type(err).__name__) from err
        return Lease(lease.job_id, lease.message_id, str(updated.pop_receipt), lease.dequeue_count)

    async def retry_later(self, lease: Lease, delay_seconds: int) -> None:
        """Let the message reappear after `delay_seconds` (a backoff)."""
        await self.extend(lease, delay_seconds)

    async def delete(self, lease: Lease) -> None:
        """The job is finished: remove its message."""
        client = await self._queue()
        try:
            await client.delete_message(lease.message_id, lease.pop_receipt)
        except ResourceNotFoundError:
            logger.info("Message of job %s was already gone", lease.job_id)
        except HttpResponseError as err:
            if getattr(err, "error_code", None) != "PopReceiptMismatch":
                raise QueueUnavailable(type(err).__name__) from err
            # Another receipt is current: the message comes back and, its job finished, is
            # dropped then.
            logger.info("Message of job %s is held by a newer receipt", lease.job_id)
        except AzureError as err:
            raise QueueUnavailable(type(err).__name__) from err

    async def backlog(self, now: datetime) -> Backlog:
        """How many messages wait (approximate) and the age of the oldest visible one: two
        cheap calls, for the queue gauges."""
        client = await self._queue()
        try:
            properties = await client.get_queue_properties()
            oldest = await client.peek_messages(max_messages=1)
        except ResourceNotFoundError:
            return Backlog(0, 0.0)
        except AzureError as err:
            raise QueueUnavailable(type(err).__name__) from err
        inserted = oldest[0].inserted_on if oldest else None
        age = max(0.0, (now - inserted).total_seconds()) if inserted is not None else 0.0
        return Backlog(int(properties.approximate_message_count or 0), age)

    async def aclose(self) -> None:
        """Close the client, if it was made."""
        if self._client is not None:
            await self._client.close()


def _lease(message: QueueMessage) -> Lease:
    return Lease(
        job_id=str(message.content),
        message_id=str(message.id),
        pop_receipt=str(message.pop_receipt),
        dequeue_count=int(message.dequeue_count or 0),
    )

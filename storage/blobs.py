"""Blob service clients, one per storage region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

# Azurite (the local stand-in) lags the SDK's newest service version; this one both accept.
API_VERSION = "2026-06-06"


@dataclass(frozen=True, slots=True)
class RegionAccount:
    """How to reach one region's storage account: a connection string, or a URL and identity."""

    region: str
    connection_string: str | None = None
    account_url: str | None = None


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """Timeouts and retries of every call a Blob client makes (defaults: the SDK's own).

    A call that still fails after `retries` retries surfaces as the caller's "unavailable" error;
    the n-th retry waits about `first_backoff + 3**n` seconds (the SDK's formula, ±3 s jitter).
    """

    connect_timeout: float = 20.0
    read_timeout: float = 60.0  # per socket read, so a stalled transfer fails too
    retries: int = 3
    first_backoff: int = 15


def blob_service(
    account: RegionAccount,
    credential: AsyncTokenCredential | None = None,
    policy: ClientPolicy = ClientPolicy(),
) -> BlobServiceClient:
    """A Blob service client for one region's account."""
    options: dict[str, Any] = {
        "api_version": API_VERSION,
        "connection_timeout": policy.connect_timeout,
        "read_timeout": policy.read_timeout,
        "retry_policy": ExponentialRetry(
            initial_backoff=policy.first_backoff,
            retry_total=policy.retries,
            random_jitter_range=min(3, policy.first_backoff),
        ),
    }
    if account.connection_string:
        return BlobServiceClient.from_connection_string(account.connection_string, **options)
    if account.account_url is None:
        raise ValueError(f"region {account.region} has no connection string or account URL")
    return BlobServiceClient(account.account_url, credential=credential, **options)


class RegionalBlobServices:
    """The Blob service clients of every configured region, opened and closed together."""

    def __init__(self, clients: Mapping[str, BlobServiceClient]) -> None:
        self._clients = dict(clients)

    @property
    def regions(self) -> tuple[str, ...]:
        """The region names, in configuration order."""
        return tuple(self._clients)

    def client(self, region: str) -> BlobServiceClient:
        """The client for `region` (KeyError when it is not configured)."""
        return self._clients[region]

    async def ping(self, region: str) -> None:
        """Raise if the region's account does not answer."""
        await self._clients[region].get_account_information()

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.close()

"""Blob service clients, one per storage region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from azure.core.credentials_async import AsyncTokenCredential
from azure.storage.blob.aio import BlobServiceClient

# Azurite (the local stand-in) lags the SDK's newest service version; this one both accept.
API_VERSION = "2026-06-06"


@dataclass(frozen=True, slots=True)
class RegionAccount:
    """How to reach one region's storage account: a connection string, or a URL and identity."""

    region: str
    connection_string: str | None = None
    account_url: str | None = None


def blob_service(
    account: RegionAccount, credential: AsyncTokenCredential | None = None
) -> BlobServiceClient:
    """A Blob service client for one region's account."""
    if account.connection_string:
        return BlobServiceClient.from_connection_string(
            account.connection_string, api_version=API_VERSION
        )
    if account.account_url is None:
        raise ValueError(f"region {account.region} has no connection string or account URL")
    return BlobServiceClient(account.account_url, credential=credential, api_version=API_VERSION)


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

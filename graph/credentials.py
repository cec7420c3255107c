"""The azure-identity (aio) credential Exhibit uses for Graph, chosen by configuration."""

from __future__ import annotations

from typing import Any

from azure.identity.aio import (
    CertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from graph.config import CredentialKind, GraphDirectoryConfig

AsyncCredential = (
    ClientSecretCredential
    | CertificateCredential
    | ManagedIdentityCredential
    | WorkloadIdentityCredential
)


def build_credential(config: GraphDirectoryConfig) -> AsyncCredential:
    """A new credential of the configured kind; the caller closes it.

    Certificate credentials read their file here: call this from a thread, not the event loop.
    """
    options: dict[str, Any] = {}
    if config.authority_host:
        options["authority"] = config.authority_host
    if config.ca_bundle is not None:
        options["connection_verify"] = str(config.ca_bundle)
    kind = config.credential_kind
    if kind is CredentialKind.MANAGED_IDENTITY:
        return ManagedIdentityCredential(client_id=config.client_id, **_transport_only(options))
    tenant_id = config.tenant_id or ""
    client_id = config.client_id or ""
    if kind is CredentialKind.CLIENT_SECRET:
        return ClientSecretCredential(tenant_id, client_id, config.client_secret or "", **options)
    if kind is CredentialKind.CERTIFICATE:
        return CertificateCredential(
            tenant_id,
            client_id,
            str(config.certificate_path),
            password=config.certificate_password,
            **options,
        )
    token_file = config.federated_token_file
    return WorkloadIdentityCredential(
        tenant_id=tenant_id,
        client_id=client_id,
        token_file_path=str(token_file) if token_file is not None else None,
        **options,
    )


def _transport_only(options: dict[str, Any]) -> dict[str, Any]:
    # A managed identity endpoint is not an Entra authority: only TLS trust applies to it.
    return {key: value for key, value in options.items() if key != "authority"}

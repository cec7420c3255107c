"""Blob storage errors translated into the domain's: what may pass is `StoreUnavailable`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from evidence.errors import StoreRejected, StoreUnavailable

# Statuses after which the same request may well succeed later.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@contextlib.contextmanager
def translated(region: str, blob_name: str) -> Iterator[None]:
    """Turn the SDK's errors into the store's (`raise ... from err`)."""
    try:
        yield
    except ClientAuthenticationError as err:
        raise StoreRejected(
            region, blob_name, status=err.status_code, code=error_code(err)
        ) from err
    except HttpResponseError as err:
        if err.status_code is not None and err.status_code not in TRANSIENT_STATUSES:
            raise StoreRejected(
                region, blob_name, status=err.status_code, code=error_code(err)
            ) from err
        raise StoreUnavailable(
            region, blob_name, error_code(err) or "error", status=err.status_code
        ) from err
    except AzureError as err:  # no answer: connection refused or reset, timeout, cut-off body
        raise StoreUnavailable(region, blob_name, type(err).__name__) from err


def error_code(err: HttpResponseError) -> str | None:
    """The service's error code (`AuthorizationFailure`, `BlobNotFound`), if it sent one."""
    code = getattr(err, "error_code", None)
    return None if code is None else str(code)

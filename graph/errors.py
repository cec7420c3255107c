"""Turning whatever the Graph SDK, httpx or azure-identity raise into domain errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from azure.core.exceptions import AzureError, ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from evidence.errors import DirectoryUnavailable, ExhibitError

logger = logging.getLogger(__name__)


class GraphProtocolError(Exception):
    """Graph answered with something that is not what its documentation promises."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def odata_code(err: APIError) -> str:
    """The `error.code` of an OData error body, or an empty string."""
    if isinstance(err, ODataError) and err.error is not None and err.error.code:
        return str(err.error.code)
    return ""


def unavailable(err: BaseException, operation: str) -> DirectoryUnavailable:
    """The domain error for a failed Graph operation; never carries tokens or bodies."""
    if isinstance(err, TimeoutError):
        return DirectoryUnavailable(f"{operation}: Graph did not answer in time")
    if isinstance(err, APIError):
        code = odata_code(err) or "error"
        return DirectoryUnavailable(
            f"{operation}: Graph answered {code}", status=err.response_status_code
        )
    if isinstance(err, ClientAuthenticationError):
        return DirectoryUnavailable(f"{operation}: no Graph token ({type(err).__name__})")
    if isinstance(err, httpx.HTTPError | AzureError):
        return DirectoryUnavailable(f"{operation}: {type(err).__name__}")
    if isinstance(err, GraphProtocolError):
        return DirectoryUnavailable(f"{operation}: unreadable answer ({err.what})")
    return DirectoryUnavailable(f"{operation}: unexpected {type(err).__name__}")


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Re-raise anything but domain errors as `DirectoryUnavailable`, chained to the cause."""
    try:
        yield
    except ExhibitError:
        raise
    except Exception as err:
        translated_error = unavailable(err, operation)
        if translated_error.reason.endswith(f"unexpected {type(err).__name__}"):
            logger.exception("graph %s failed unexpectedly", operation)
        else:
            logger.warning("graph %s failed: %s", operation, translated_error)
        raise translated_error from err

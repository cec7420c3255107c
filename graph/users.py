"""Graph `user` JSON → `Officer`: the fields Exhibit reads and how roles follow from groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evidence.officers import Officer, Role
from graph.errors import GraphProtocolError
from graph.ids import canonical_id, first_phone

# `$select` exactly what an Officer needs; Graph returns nothing else.
USER_FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "mail",
    "userPrincipalName",
    "businessPhones",
    "accountEnabled",
)


def user_id(user: Any) -> str:
    """The canonical object id of a user JSON object."""
    if not isinstance(user, dict):
        raise GraphProtocolError("user is not an object")
    found = canonical_id(str(user.get("id", "")))
    if found is None:
        raise GraphProtocolError("user has no object id")
    return found


def group_ids(page: Any) -> tuple[list[str], str | None]:
    """Object ids in one page of a directory-object list, and its `@odata.nextLink`."""
    if not isinstance(page, dict) or not isinstance(page.get("value"), list):
        raise GraphProtocolError("membership page has no value")
    ids = [
        found
        for item in page["value"]
        if isinstance(item, dict) and (found := canonical_id(str(item.get("id", ""))))
    ]
    next_link = page.get("@odata.nextLink")
    return ids, next_link if isinstance(next_link, str) and next_link else None


def roles_from(groups: Iterable[str], role_groups: Mapping[str, Role]) -> frozenset[Role]:
    """The roles the given (canonical) group ids grant."""
    return frozenset(role_groups[group] for group in groups if group in role_groups)


def officer_from(user: Mapping[str, Any], roles: frozenset[Role]) -> Officer:
    """An Officer from a Graph user selected with `USER_FIELDS`.

    A missing `accountEnabled` counts as disabled: an account Graph does not vouch for gets
    no access.
    """
    object_id = user_id(user)
    mail = _text(user, "mail") or _text(user, "userPrincipalName")
    return Officer(
        object_id=object_id,
        display_name=_text(user, "displayName") or mail or object_id,
        given_name=_text(user, "givenName"),
        surname=_text(user, "surname"),
        rank=_text(user, "jobTitle"),
        unit=_text(user, "department"),
        email=mail,
        phone=first_phone(user.get("businessPhones")),
        enabled=user.get("accountEnabled") is True,
        roles=roles,
    )


def _text(user: Mapping[str, Any], name: str) -> str:
    value = user.get(name)
    return value.strip() if isinstance(value, str) else ""

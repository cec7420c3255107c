"""`LocalDirectory`: the Directory port on a YAML file, the stand-in for Entra ID.

The file mirrors what Graph would say (see dev/directory.yaml)::

    groups:                      # each Entra group grants one Exhibit role
      - {id: <guid>, name: Exhibit Approvers, role: approver}
    officers:                    # Graph user fields, plus the groups (by name) they are in
      - id: <guid>
        displayName: Ravi Patel  # required
        givenName: Ravi          # optional, as are surname, jobTitle, department, mail,
        accountEnabled: true     #   userPrincipalName, businessPhones (a list);
                                 #   accountEnabled defaults to true
        groups: [Exhibit Officers, Exhibit Approvers]
    channels:                    # optional: who is in which Teams channel
      - team: <team's Entra group id>
        channel: "19:...@thread.tacv2"
        members: [<officer id>, ...]

Anything else is refused with a `DirectoryFileError` naming the file, the entry and the field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from evidence.officers import Officer, Role
from graph.ids import canonical_id, first_phone

_GROUP_FIELDS = frozenset({"id", "name", "role"})
_OFFICER_TEXT = ("givenName", "surname", "jobTitle", "department", "mail", "userPrincipalName")
_OFFICER_FIELDS = frozenset(
    {"id", "displayName", "accountEnabled", "groups", "businessPhones", *_OFFICER_TEXT}
)
_CHANNEL_FIELDS = frozenset({"team", "channel", "name", "members"})
_SECTIONS = frozenset({"groups", "officers", "channels"})

ChannelKey = tuple[str, str]


class DirectoryFileError(ValueError):
    """The local directory file cannot be used. `entry` and `field` say where, when known."""

    def __init__(
        self, path: Path, problem: str, *, entry: str | None = None, field: str | None = None
    ) -> None:
        where = ": ".join(part for part in (str(path), entry, field) if part)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.entry = entry
        self.field = field
        self.problem = problem


class LocalDirectory:
    """Officers, roles and channel members held in memory, loaded from a YAML file."""

    def __init__(
        self,
        officers: Iterable[Officer],
        channels: Mapping[ChannelKey, Iterable[str]] | None = None,
    ) -> None:
        by_id: dict[str, Officer] = {}
        for officer in officers:
            key = canonical_id(officer.object_id)
            if key is None:
                raise ValueError(f"officer id {officer.object_id!r} is not a GUID")
            by_id[key] = officer
        self._officers = MappingProxyType(by_id)
        self._channels = MappingProxyType(
            {
                (team.lower(), channel): frozenset(member.lower() for member in members)
                for (team, channel), members in (channels or {}).items()
            }
        )

    @classmethod
    def from_file(cls, path: Path) -> LocalDirectory:
        """Read and check the file (blocking: call at start-up or use `load`)."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise DirectoryFileError(path, f"cannot read ({type(err).__name__})") from err
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            raise DirectoryFileError(path, f"not valid YAML{line}") from err
        officers, channels = _Parser(path).directory(document)
        return cls(officers, channels)

    @classmethod
    async def load(cls, path: Path) -> LocalDirectory:
        """`from_file`, off the event loop."""
        return await asyncio.to_thread(cls.from_file, path)

    @property
    def source(self) -> str:
        """Answers come from the local file."""
        return "local"

    async def officer(self, object_id: str, *, fresh: bool = False) -> Officer | None:
        """The officer with this object id, or None (held in memory: always fresh)."""
        key = canonical_id(object_id)
        return self._officers.get(key) if key is not None else None

    async def officers(self, object_ids: Iterable[str]) -> Mapping[str, Officer]:
        """The known officers among `object_ids`, keyed by the ids as given."""
        found: dict[str, Officer] = {}
        for given in object_ids:
            key = canonical_id(given)
            officer = self._officers.get(key) if key is not None else None
            if officer is not None:
                found[given] = officer
        return found

    async def channel_members(
        self, team_id: str, channel_id: str, *, fresh: bool = False
    ) -> frozenset[str]:
        """Object ids listed for the channel in the file; empty if it is not listed."""
        return self._channels.get((team_id.lower(), channel_id), frozenset())

    def all_officers(self) -> Mapping[str, Officer]:
        """Every officer in the file, by canonical object id."""
        return self._officers


class _Parser:
    """Checks a loaded YAML document field by field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, problem: str, entry: str | None = None, field: str | None = None) -> NoReturn:
        raise DirectoryFileError(self.path, problem, entry=entry, field=field)

    def directory(self, document: Any) -> tuple[list[Officer], dict[ChannelKey, frozenset[str]]]:
        if not isinstance(document, dict):
            self.fail("must be a mapping with groups and officers")
        unknown = sorted(str(key) for key in document if key not in _SECTIONS)
        if unknown:
            self.fail(f"unknown section {unknown[0]!r}")
        groups = self.groups(self.entries(document, "groups"))
        officers = self.officers(self.entries(document, "officers"), groups)
        channels = self.channels(
            self.entries(document, "channels", required=False), {o.object_id for o in officers}
        )
        return officers, channels

    def entries(
        self, document: dict[str, Any], section: str, *, required: bool = True
    ) -> list[Any]:
        value = document.get(section)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            self.fail("must be a list", entry=section)
        return value

    def groups(self, entries: list[Any]) -> dict[str, tuple[str, Role]]:
        by_name: dict[str, tuple[str, Role]] = {}
        seen_ids: set[str] = set()
        for index, raw in enumerate(entries):
            entry = f"groups[{index}]"
            item = self.mapping(raw, entry, _GROUP_FIELDS)
            group_id = self.object_id(item, entry)
            name = self.text(item, "name", entry, required=True)
            role_name = self.text(item, "role", entry, required=True)
            try:
                role = Role(role_name)
            except ValueError:
                roles = ", ".join(r.value for r in Role)
                self.fail(f"unknown role {role_name!r} (one of {roles})", entry, "role")
            if group_id in seen_ids:
                self.fail(f"duplicate group id {group_id}", entry, "id")
            if name in by_name:
                self.fail(f"duplicate group name {name!r}", entry, "name")
            seen_ids.add(group_id)
            by_name[name] = (group_id, role)
        return by_name

    def officers(self, entries: list[Any], groups: Mapping[str, tuple[str, Role]]) -> list[Officer]:
        officers: list[Officer] = []
        seen: set[str] = set()
        for index, raw in enumerate(entries):
            entry = f"officers[{index}]"
            item = self.mapping(raw, entry, _OFFICER_FIELDS)
            object_id = self.object_id(item, entry)
            entry = f"officers[{index}] ({object_id})"
            if object_id in seen:
                self.fail(f"duplicate officer id {object_id}", entry, "id")
            seen.add(object_id)
            text = {name: self.text(item, name, entry) for name in _OFFICER_TEXT}
            enabled = item.get("accountEnabled", True)
            if not isinstance(enabled, bool):
                self.fail("must be true or false", entry, "accountEnabled")
            roles: set[Role] = set()
            for name in self.names(item, "groups", entry):
                if name not in groups:
                    self.fail(f"unknown group {name!r}", entry, "groups")
                roles.add(groups[name][1])
            officers.append(
                Officer(
                    object_id=object_id,
                    display_name=self.text(item, "displayName", entry, required=True),
                    given_name=text["givenName"],
                    surname=text["surname"],
                    rank=text["jobTitle"],
                    unit=text["department"],
                    email=text["mail"] or text["userPrincipalName"],
                    phone=first_phone(self.names(item, "businessPhones", entry)),
                    enabled=enabled,
                    roles=frozenset(roles),
                )
            )
        return officers

    def channels(
        self, entries: list[Any], officer_ids: set[str]
    ) -> dict[ChannelKey, frozenset[str]]:
        channels: dict[ChannelKey, frozenset[str]] = {}
        for index, raw in enumerate(entries):
            entry = f"channels[{index}]"
            item = self.mapping(raw, entry, _CHANNEL_FIELDS)
            team = canonical_id(self.text(item, "team", entry, required=True))
            if team is None:
                self.fail("must be the team's Entra group id (a GUID)", entry, "team")
            channel = self.text(item, "channel", entry, required=True)
            if not channel.startswith("19:"):
                self.fail("must be a Teams channel id (19:...)", entry, "channel")
            self.text(item, "name", entry)
            members: set[str] = set()
            for member in self.names(item, "members", entry):
                member_id = canonical_id(member)
                if member_id is None or member_id not in officer_ids:
                    self.fail(f"{member!r} is not an officer id in this file", entry, "members")
                members.add(member_id)
            if (team, channel) in channels:
                self.fail("duplicate channel", entry, "channel")
            channels[(team, channel)] = frozenset(members)
        return channels

    def mapping(self, raw: Any, entry: str, allowed: frozenset[str]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail("must be a mapping", entry)
        unknown = sorted(str(key) for key in raw if key not in allowed)
        if unknown:
            self.fail("unknown field", entry, unknown[0])
        return raw

    def object_id(self, item: dict[str, Any], entry: str) -> str:
        raw = self.text(item, "id", entry, required=True)
        found = canonical_id(raw)
        if found is None:
            self.fail(f"{raw!r} is not an Entra object id (a GUID)", entry, "id")
        return found

    def text(self, item: dict[str, Any], field: str, entry: str, *, required: bool = False) -> str:
        value = item.get(field)
        if value is None:
            if required:
                self.fail("is required", entry, field)
            return ""
        if not isinstance(value, str):
            self.fail(f"must be text, not {type(value).__name__}", entry, field)
        if required and not value.strip():
            self.fail("must not be empty", entry, field)
        return value.strip()

    def names(self, item: dict[str, Any], field: str, entry: str) -> list[str]:
        value = item.get(field, [])
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("must be a list of text", entry, field)
        return list(value)

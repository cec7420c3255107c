"""The test people: the officers of dev/directory.yaml as the mocked Teams users of the playground.

One table, so a test's Jane is the directory's Jane (object id, roles) and the playground's Jane
(Teams id, name); tests/test_people.py checks the table against both files.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence.custody import Actor
from evidence.officers import Officer, Role


@dataclass(frozen=True, slots=True)
class Person:
    """One test person: Entra object id, Teams user id, directory entry and roles."""

    object_id: str
    teams_id: str
    name: str
    given_name: str
    surname: str
    rank: str
    unit: str
    email: str
    roles: frozenset[Role]

    def account(self) -> dict[str, str]:
        """Their Teams ChannelAccount JSON (an activity's `from`, a channel member)."""
        return {"id": self.teams_id, "name": self.name, "aadObjectId": self.object_id}

    def officer(self) -> Officer:
        """Their directory entry, as the local directory resolves it."""
        return Officer(
            self.object_id,
            self.name,
            given_name=self.given_name,
            surname=self.surname,
            rank=self.rank,
            unit=self.unit,
            email=self.email,
            roles=self.roles,
        )

    def actor(self) -> Actor:
        """Them as a custody actor."""
        return Actor(self.object_id, self.name)


def _person(number: int, given: str, surname: str, rank: str, unit: str, *roles: Role) -> Person:
    return Person(
        object_id=f"1a7e2c3d-000{number}-4f00-8000-00000000000{number}",
        teams_id=f"29:user-{given.lower()}-{surname.lower()}",
        name=f"{given} {surname}",
        given_name=given,
        surname=surname,
        rank=rank,
        unit=unit,
        email=f"{given.lower()}.{surname.lower()}@met.example",
        roles=frozenset(roles),
    )


JANE = _person(1, "Jane", "Smith", "Police Constable", "Lambeth CID", Role.OFFICER)
RAVI = _person(2, "Ravi", "Patel", "Detective Sergeant", "Lambeth CID", Role.OFFICER, Role.APPROVER)
SARAH = _person(
    3, "Sarah", "Okafor", "Detective Inspector", "Lambeth CID", Role.OFFICER, Role.APPROVER
)
TOM = _person(
    4, "Tom", "Hughes", "Professional Standards Auditor",
    "Directorate of Professional Standards", Role.AUDITOR,
)  # fmt: skip
PRIYA = _person(
    5, "Priya", "Shah", "Digital Services Administrator", "Digital Data and Technology", Role.ADMIN
)
LIAM = _person(6, "Liam", "Walsh", "Police Constable", "Lambeth Response", Role.OFFICER)
PEOPLE = (JANE, RAVI, SARAH, TOM, PRIYA, LIAM)


def channel_members(*people: Person) -> list[dict[str, str]]:
    """The connector's members of a channel (Teams user ids and Entra object ids)."""
    return [person.account() for person in people]

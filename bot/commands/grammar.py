"""The commands users type, described once: their words, arguments, wording and where they work.

The one source of truth for the parser (`bot.parsing`, `bot.share_grammar`), the help card, the
app manifest's command lists and the README's command table (a test holds each to it). Pure
data, no SDK imports, so the app package builder can read it without starting anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from evidence.officers import Role


class Scope(StrEnum):
    """Where in Teams a command may be typed (the manifest's bot scopes)."""

    PERSONAL = "personal"
    TEAM = "team"
    GROUP_CHAT = "groupChat"


ALL_SCOPES = frozenset(Scope)


class Kind(StrEnum):
    """What an argument is; the value is the placeholder the syntax shows for it."""

    CASE_REF = "case-ref"
    EXHIBIT_REF = "exhibit-ref"
    SHARE_ID = "share-id"
    EMAIL = "email"
    DAYS = "N"
    ORGANISATION = "organisation"
    REGION = "name"
    TITLE = "title"
    TEXT = "text"
    FILES = "files"  # the word itself: `with files`
    TOPIC = "command"


class Group(StrEnum):
    """Where the help card lists a command; `help <group>` shows a group's commands in full."""

    CASES = "Cases"
    EVIDENCE = "Evidence"
    SHARING = "Sharing"
    CUSTODY = "Custody"
    GENERAL = "More"


# Kinds that take every word that is left (`<title...>`).
RUNS_ON = frozenset({Kind.TITLE, Kind.TEXT})


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument of a command: what it is, the word that introduces it, if it may be left out.

    `many`: several, separated by commas (`JS/1,JS/2`).
    """

    name: str
    kind: Kind
    keyword: str | None = None
    optional: bool = False
    many: bool = False

    @property
    def syntax(self) -> str:
        """How the help card and the README show it: `[for <N>d]`, `<exhibit-ref>[,...]`."""
        value = f"<{self.kind}...>" if self.kind in RUNS_ON else f"<{self.kind}>"
        if self.kind is Kind.FILES:
            value = str(self.kind)
        if self.kind is Kind.DAYS:
            value += "d"
        if self.many:
            value += "[,...]"
        text = f"{self.keyword} {value}" if self.keyword else value
        return f"[{text}]" if self.optional else text


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One user-facing command.

    `summary`: one short line for the help card and the app's command menu (else the
    description). `group`: where the help card lists it. `menu`: its place in the command menu
    Teams shows above the compose box (1 first; None: not offered there).
    `roles`: who it is for, when only some roles may use it (empty: anyone enrolled).
    `with_files`: typed with files attached.
    """

    name: str
    arguments: tuple[Argument, ...]
    description: str
    example: str
    available: bool = True
    scopes: frozenset[Scope] = ALL_SCOPES
    roles: frozenset[Role] = field(default_factory=frozenset)
    with_files: bool = False
    summary: str = ""
    group: Group = Group.GENERAL
    menu: int | None = None

    @property
    def short(self) -> str:
        """The one line the help card and the command menu show."""
        return self.summary or self.description

    @property
    def words(self) -> tuple[str, ...]:
        """The words that name it, as typed (in any case)."""
        return tuple(self.name.split())

    @property
    def syntax(self) -> str:
        """The command and its arguments, as the help card and the README show them."""
        return " ".join([self.name, *(argument.syntax for argument in self.arguments)])

    @property
    def usage(self) -> str:
        """The syntax, and how to send it when it takes files."""
        return f"{self.syntax} (with files attached)" if self.with_files else self.syntax

    def argument(self, name: str) -> Argument:
        """The argument called `name` (a `KeyError` names a grammar the code does not match)."""
        for argument in self.arguments:
            if argument.name == name:
                return argument
        raise KeyError(name)


CASE_REF = Argument("case", Kind.CASE_REF, optional=True)
EXHIBIT = (CASE_REF, Argument("exhibit", Kind.EXHIBIT_REF))
SHARE_ID = Argument("share", Kind.SHARE_ID)
# Auditors and admins not on a case say why they consult it (DPA 2018 s.62).
WHY = Argument("reason", Kind.TEXT, keyword="reason", optional=True)
OFFICERS = frozenset({Role.OFFICER, Role.APPROVER})
HOLDERS = frozenset({Role.APPROVER, Role.ADMIN})
HOLD = (Argument("case", Kind.CASE_REF), Argument("reason", Kind.TEXT, keyword="reason"))

# The one command whose arguments bot.share_grammar reads by this grammar.
SHARE = CommandSpec(
    "share",
    (
        CASE_REF,
        Argument("exhibits", Kind.EXHIBIT_REF, many=True),
        Argument("recipient", Kind.EMAIL, keyword="with"),
        Argument("days", Kind.DAYS, keyword="for", optional=True),
        Argument("organisation", Kind.ORGANISATION, keyword="as", optional=True),
        Argument("reason", Kind.TEXT, keyword="reason"),
    ),
    "Request an external share; an approver decides",
    "share JS/1,JS/2 with lawyer@cps.gov.uk for 14d as prosecutor reason disclosure for trial",
    roles=OFFICERS,
    summary="Ask to share exhibits outside the force",
    group=Group.SHARING,
    menu=8,
)

HELP = CommandSpec(
    "help",
    (Argument("topic", Kind.TOPIC, optional=True),),
    "List what Exhibit can do; with a command or a group (cases, evidence, sharing, custody), "
    "how to use it",
    "help share",
    summary="What Exhibit can do, or how to use one command",
    menu=1,
)

COMMANDS: tuple[CommandSpec, ...] = (
    HELP,
    CommandSpec(
        "whoami",
        (),
        "Who the directory says you are: name, rank, unit, roles",
        "whoami",
        summary="Who Exhibit thinks you are",
        menu=10,
    ),
    CommandSpec(
        "case open",
        (
            Argument("reference", Kind.CASE_REF),
            Argument("title", Kind.TITLE),
            Argument("region", Kind.REGION, keyword="region", optional=True),
        ),
        "Open a case pinned to a storage region; in a channel, bind the channel to it",
        "case open MET-24-0001 Burglary at 12 High St region uksouth",
        roles=OFFICERS,
        summary="Open a new case",
        group=Group.CASES,
    ),
    CommandSpec("case list", (), "Cases you can see", "case list", group=Group.CASES, menu=2),
    CommandSpec(
        "case bind",
        (Argument("case", Kind.CASE_REF),),
        "Make this channel the case's channel (for a case opened in personal chat)",
        "case bind MET-24-0001",
        scopes=frozenset({Scope.TEAM}),
        roles=OFFICERS,
        summary="Make this channel a case's channel",
        group=Group.CASES,
    ),
    CommandSpec(
        "case show",
        (CASE_REF, WHY),
        "Case card: region, team, exhibits, open shares, legal hold",
        "case show MET-24-0001",
        summary="One case: region, exhibits, open shares",
        group=Group.CASES,
        menu=3,
    ),
    CommandSpec(
        "case hold on",
        HOLD,
        "Put the case's evidence on legal hold (approvers and admins)",
        "case hold on MET-24-0001 reason defence disclosure request",
        roles=HOLDERS,
        summary="Legal hold on a case's evidence",
        group=Group.CASES,
    ),
    CommandSpec(
        "case hold off",
        HOLD,
        "Lift the case's legal hold (approvers and admins)",
        "case hold off MET-24-0001 reason proceedings concluded",
        roles=HOLDERS,
        summary="Lift a case's legal hold",
        group=Group.CASES,
    ),
    CommandSpec(
        "add",
        (CASE_REF,),
        "Each attached file becomes an exhibit of the case",
        "add MET-24-0001",
        roles=OFFICERS,
        with_files=True,
        summary="Attach files to make them exhibits",
        group=Group.EVIDENCE,
    ),
    CommandSpec(
        "evidence list",
        (CASE_REF, WHY),
        "Exhibits of the case",
        "evidence list MET-24-0001",
        group=Group.EVIDENCE,
        menu=4,
    ),
    CommandSpec(
        "evidence show",
        (*EXHIBIT, WHY),
        "Exhibit card: name, type, size, SHA-256, who and when",
        "evidence show JS/1",
        summary="One exhibit: file, size, SHA-256, reviews",
        group=Group.EVIDENCE,
        menu=5,
    ),
    CommandSpec(
        "evidence verify",
        (*EXHIBIT, WHY),
        "Re-hash the stored file and compare with the intake hash",
        "evidence verify MET-24-0001 JS/1",
        summary="Check the stored file still matches",
        group=Group.EVIDENCE,
        menu=6,
    ),
    SHARE,
    CommandSpec(
        "share list",
        (CASE_REF, WHY),
        "Shares of the case and their state",
        "share list MET-24-0001",
        group=Group.SHARING,
        menu=9,
    ),
    CommandSpec(
        "share revoke",
        (SHARE_ID, Argument("reason", Kind.TEXT, keyword="reason", optional=True)),
        "Stop a share link at once, saying why",
        "share revoke S-0123456789 reason sent to the wrong lawyer",
        group=Group.SHARING,
    ),
    CommandSpec(
        "share link",
        (SHARE_ID,),
        "A new link for your approved share; the old one stops working",
        "share link S-0123456789",
        summary="A new link for your approved share",
        group=Group.SHARING,
    ),
    CommandSpec(
        "custody",
        (*EXHIBIT, WHY),
        "The exhibit's chain of custody, verified",
        "custody JS/1",
        group=Group.CUSTODY,
        menu=7,
    ),
    CommandSpec(
        "custody export",
        (
            Argument("case", Kind.CASE_REF),
            Argument("exhibits", Kind.EXHIBIT_REF, optional=True, many=True),
            Argument("files", Kind.FILES, keyword="with", optional=True),
            Argument("reason", Kind.TEXT, keyword="reason", optional=True),
        ),
        "Continuity bundle (ZIP: chain, checkpoints, statement, verifier) to your OneDrive",
        "custody export MET-24-0001 JS/1 with files reason Crown Court disclosure",
        summary="A continuity bundle a court can check",
        group=Group.CUSTODY,
    ),
)


def command_named(name: str) -> CommandSpec | None:
    """The command whose name is `name`, if any."""
    return next((c for c in COMMANDS if c.name == name), None)


def commands_in(group: Group, commands: Sequence[CommandSpec] = COMMANDS) -> list[CommandSpec]:
    """The commands the help card lists under `group`, in catalogue order."""
    return [c for c in commands if c.group is group]


def group_named(name: str) -> Group | None:
    """The group called `name` (any case; `case`, `share` and `share` singular too), if any."""
    wanted = name.strip().lower()
    for group in Group:
        if wanted in {group.value.lower(), group.name.lower(), group.value.lower().rstrip("s")}:
            return group
    return {"share": Group.SHARING, "shares": Group.SHARING}.get(wanted)

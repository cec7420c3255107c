"""Share cards: the approval card (Universal Actions), the link card, the list of shares."""

from __future__ import annotations

from collections.abc import Sequence

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    CardElement,
    Choice,
    ChoiceSetInput,
    Container,
    ExecuteAction,
    Fact,
    FactSet,
    NumberInput,
    RefreshDefinition,
    SubmitAction,
    TextBlock,
    TextInput,
)

from cards.text import LONG, plain, wording
from cards.time import when
from evidence.model import Exhibit
from evidence.shares import Share, ShareStatus

APPROVE, REJECT, REFRESH = "share.approve", "share.reject", "share.refresh"
MAX_REFRESH_USERS = 60  # Teams shows per-user views to at most 60 users

_STATUS = {
    ShareStatus.PENDING: ("Waiting for an approver", "Warning"),
    ShareStatus.APPROVED: ("Approved", "Good"),
    ShareStatus.REJECTED: ("Rejected", "Attention"),
    ShareStatus.REVOKED: ("Revoked", "Attention"),
    ShareStatus.EXPIRED: ("Expired", "Default"),
}


def _summary(share: Share, case_reference: str, exhibits: Sequence[Exhibit]) -> list[CardElement]:
    status, color = _STATUS[share.status]
    facts = [
        Fact(title="Case", value=plain(case_reference)),
        Fact(title="Exhibits", value=plain(", ".join(str(e.ref) for e in exhibits)) or "\u2014"),
        Fact(
            title="Recipient",
            value=f"{plain(share.recipient)} ({plain(share.organisation_type)})",
        ),
        Fact(title="Link lasts", value=f"{share.days} days"),
        Fact(
            title="Requested by",
            value=f"{plain(share.requested_by_name)}, {when(share.created_at)}",
        ),
        Fact(title="Reason", value=plain(share.reason, limit=LONG, multiline=True)),
        Fact(title="Share id", value=plain(share.id)),
    ]
    if share.decided_by_name:
        decided = plain(share.decided_by_name)
        if share.decided_at is not None:
            decided += f", {when(share.decided_at)}"
        facts.append(Fact(title="Decided by", value=decided))
    if share.decision_reason:
        note = plain(share.decision_reason, limit=LONG, multiline=True)
        facts.append(Fact(title="Decision note", value=note))
    return [
        TextBlock(text="Share request", weight="Bolder", size="Medium", wrap=True),
        TextBlock(text=status, color=color, weight="Bolder", wrap=True),
        FactSet(facts=facts),
    ]


def build_approval_card(
    share: Share,
    case_reference: str,
    exhibits: Sequence[Exhibit],
    *,
    approvers: Sequence[str] = (),
    with_buttons: bool = True,
    notice: str | None = None,
) -> AdaptiveCard:
    """The card in the case channel. Pending: approve/reject (Action.Execute), refreshed for the
    case's approvers; the buttons are on the card for everyone too, so it works without refresh
    (Teams mobile) — the server decides who may act."""
    body = _summary(share, case_reference, exhibits)
    if notice:
        body.insert(
            0, TextBlock(text=wording(notice), color="Attention", weight="Bolder", wrap=True)
        )
    data = {"shareId": share.id}
    if share.status is ShareStatus.PENDING and with_buttons:
        body.append(
            TextInput(
                id="reason",
                label="Note (required to reject)",
                placeholder="Why, for the record",
                is_multiline=True,
                max_length=500,
            )
        )
        body.append(
            ActionSet(
                actions=[
                    ExecuteAction(title="Approve", verb=APPROVE, data=data, style="positive"),
                    ExecuteAction(title="Reject", verb=REJECT, data=data, style="destructive"),
                ]
            )
        )
    card = AdaptiveCard(body=body)
    if share.status is ShareStatus.PENDING and approvers:
        card.refresh = RefreshDefinition(
            action=ExecuteAction(title="Refresh", verb=REFRESH, data=data),
            user_ids=list(approvers)[:MAX_REFRESH_USERS],
        )
    return card


def build_link_card(
    share: Share,
    case_reference: str,
    url: str,
    *,
    mailed_from: str | None = None,
    mail_problem: str | None = None,
    reissued: bool = False,
) -> AdaptiveCard:
    """For the requester: the link to pass on (or that Exhibit e-mailed), and how long it lasts.

    `mailed_from` is the mailbox the link was e-mailed from; with `mail_problem`, why that failed.
    `reissued`: a new link for a share approved earlier, replacing the old one.
    """
    expires = when(share.link_expires_at) if share.link_expires_at else ""
    recipient, sender = plain(share.recipient), plain(mailed_from or "")
    if mailed_from is None:
        what = f"Send this link to {recipient}."
    elif mail_problem is None:
        what = (
            f"Exhibit has e-mailed this link to {recipient} from {sender}: you need "
            "not send it yourself."
        )
    else:
        what = (
            f"Exhibit could not e-mail the link ({plain(mail_problem)}): send it to {recipient} "
            "yourself."
        )
    return AdaptiveCard(
        body=[
            TextBlock(
                text="New link for the share" if reissued else "Share approved",
                weight="Bolder",
                size="Medium",
                color="Good",
            ),
            TextBlock(
                text=("The previous link no longer works. " if reissued else "")
                + f"{what} It works until {expires}; every use is recorded. Do not post it "
                "anywhere else.",
                wrap=True,
                color="Attention" if mail_problem else None,
            ),
            TextBlock(text=url, font_type="Monospace", wrap=True),
            FactSet(
                facts=[
                    Fact(title="Case", value=plain(case_reference)),
                    Fact(title="Share id", value=plain(share.id)),
                ]
            ),
        ]
    )


def build_share_list_card(case_reference: str, shares: Sequence[Share]) -> AdaptiveCard:
    """The shares of a case and their state."""
    body: list[CardElement] = [
        TextBlock(
            text=f"Shares of {plain(case_reference)}", weight="Bolder", size="Medium", wrap=True
        )
    ]
    if not shares:
        body.append(TextBlock(text="No shares yet.", wrap=True))
    for share in shares[:40]:
        status, color = _STATUS[share.status]
        body.append(
            Container(
                separator=True,
                items=[
                    TextBlock(
                        text=f"**{plain(share.recipient)}** \u2014 {status}",
                        color=color,
                        wrap=True,
                    ),
                    TextBlock(
                        text=f"{plain(share.id)} \u00b7 {len(share.exhibit_ids)} exhibit(s) \u00b7 "
                        f"{share.downloads} download(s) \u00b7 requested {when(share.created_at)}",
                        is_subtle=True,
                        wrap=True,
                    ),
                ],
            )
        )
    return AdaptiveCard(body=body)


SHARE_FORM = "share.form"


def build_share_form(
    exhibits: str, organisation_types: Sequence[str], days: tuple[int, int, int]
) -> AdaptiveCard:
    """The share request as a form (what `share` with no recipient answers)."""
    low, default, high = days
    return AdaptiveCard(
        body=[
            TextBlock(text="Request an external share", weight="Bolder", size="Medium"),
            TextBlock(
                text="An approver on the case decides; the recipient gets an expiring link.",
                is_subtle=True,
                wrap=True,
            ),
            TextInput(
                id="exhibits",
                label="Exhibits (e.g. JS/1,JS/2)",
                value=exhibits,
                is_required=True,
                error_message="Name at least one exhibit",
            ),
            TextInput(
                id="recipient",
                label="Recipient's email",
                is_required=True,
                style="Email",
                error_message="An email address is required",
            ),
            ChoiceSetInput(
                id="organisation",
                label="Organisation",
                value=organisation_types[0] if organisation_types else None,
                choices=[
                    Choice(title=t.replace("-", " ").title(), value=t) for t in organisation_types
                ],
            ),
            NumberInput(
                id="days",
                label=f"Link lasts (days, {low}-{high})",
                min=low,
                max=high,
                value=default,
                is_required=True,
            ),
            TextInput(
                id="reason",
                label="Reason",
                is_multiline=True,
                is_required=True,
                max_length=500,
                error_message="A reason is required",
            ),
        ],
        actions=[SubmitAction(title="Request share", data={"exhibitAction": SHARE_FORM})],
    )

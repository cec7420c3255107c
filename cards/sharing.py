"""Share cards: the approval card (Universal Actions), the link card, the list of shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from cards.models import ac
from cards.text import LONG, TITLE, plain, wording
from cards.time import when
from cards.words import size_text
from evidence.model import Exhibit
from evidence.review import Review, ReviewMark
from evidence.shares import Share, ShareStatus

APPROVE, REJECT, REFRESH = "share.approve", "share.reject", "share.refresh"
FLAGS_READ = "flagsRead"  # the approval card's "I have read the flags" toggle
MAX_REFRESH_USERS = 60  # Teams shows per-user views to at most 60 users

_STATUS = {
    ShareStatus.PENDING: ("Waiting for an approver", "Warning"),
    ShareStatus.APPROVED: ("Approved", "Good"),
    ShareStatus.REJECTED: ("Rejected", "Attention"),
    ShareStatus.REVOKED: ("Revoked", "Attention"),
    ShareStatus.EXPIRED: ("Expired", "Default"),
}


def decision_lines(share: Share) -> list[str]:
    """The decision and the revocation, each a fact of its own, as sentences.

    "Approved by Ravi Patel, 01 Dec 2026 14:02 UTC: note" and "Revoked by Jane Smith, ...: why".
    """
    lines = []
    if share.decided_by_name:
        verb = "Rejected" if share.status is ShareStatus.REJECTED else "Approved"
        lines.append(
            _fact_line(verb, share.decided_by_name, share.decided_at, share.decision_reason)
        )
    if share.revoked_by_name:
        lines.append(
            _fact_line("Revoked", share.revoked_by_name, share.revoked_at, share.revocation_reason)
        )
    return lines


def _fact_line(verb: str, by: str, at: datetime | None, why: str | None) -> str:
    line = f"{verb} by {plain(by)}"
    if at is not None:
        line += f", {when(at)}"
    if why:
        line += f": {plain(why, limit=LONG, multiline=True)}"
    return line


def organisation_text(share: Share) -> str:
    """The recipient's organisation: its kind, and the mail domain it was named by."""
    kind = share.organisation_type.replace("-", " ")
    kind = kind.upper() if len(kind) <= 4 else kind.capitalize()
    domain = share.recipient.rpartition("@")[2]
    return f"{plain(kind)} ({plain(domain)})" if domain else plain(kind)


def _summary(
    share: Share, case_reference: str, exhibits: Sequence[Exhibit]
) -> list[ac.CardElement]:
    status, color = _STATUS[share.status]
    facts = [
        ac.Fact(title="Case", value=plain(case_reference)),
        ac.Fact(title="Exhibits", value=plain(", ".join(str(e.ref) for e in exhibits)) or "\u2014"),
        ac.Fact(title="Recipient", value=plain(share.recipient)),
        ac.Fact(title="Organisation", value=organisation_text(share)),
        ac.Fact(title="Link lasts", value=f"{share.days} days"),
        ac.Fact(
            title="Requested by",
            value=f"{plain(share.requested_by_name)}, {when(share.created_at)}",
        ),
        ac.Fact(title="Reason", value=plain(share.reason, limit=LONG, multiline=True)),
        ac.Fact(title="Share id", value=plain(share.id)),
    ]
    return [
        ac.TextBlock(text="Share request", weight="Bolder", size="Medium", wrap=True),
        ac.TextBlock(text=status, color=color, weight="Bolder", wrap=True),
        ac.FactSet(facts=facts),
        *(ac.TextBlock(text=line, wrap=True) for line in decision_lines(share)),
    ]


def _exhibit_block(exhibit: Exhibit, marks: Sequence[ReviewMark]) -> ac.Container:
    """What the approver judges one exhibit by: file, size, type, hash, and its reviews."""
    flagged = any(mark.review is Review.FLAGGED for mark in marks)
    items: list[ac.CardElement] = [
        ac.TextBlock(
            text=f"{exhibit.ref} \u00b7 {plain(exhibit.original_name, limit=TITLE)}",
            weight="Bolder",
            wrap=True,
        ),
        ac.FactSet(
            facts=[
                ac.Fact(title="Size", value=size_text(exhibit.size)),
                ac.Fact(title="Type", value=plain(exhibit.detected_type)),
            ]
        ),
        ac.TextBlock(text="SHA-256", is_subtle=True, size="Small", wrap=True),
        ac.TextBlock(text=plain(exhibit.sha256), font_type="Monospace", size="Small", wrap=True),
    ]
    if not marks:
        items.append(ac.TextBlock(text="Not reviewed yet", is_subtle=True, wrap=True))
    for mark in marks:
        line = f"{mark.review.value.capitalize()} by {plain(mark.by)}, {when(mark.at)}"
        if mark.comment:
            line += f": {plain(mark.comment, limit=LONG, multiline=True)}"
        is_flag = mark.review is Review.FLAGGED
        items.append(
            ac.TextBlock(
                text=line,
                wrap=True,
                color="Attention" if is_flag else "Good",
                weight="Bolder" if is_flag else None,
            )
        )
    return ac.Container(
        separator=True, style="attention" if flagged else None, bleed=flagged or None, items=items
    )


def flagged_refs(
    exhibits: Sequence[Exhibit], reviews: Mapping[str, Sequence[ReviewMark]]
) -> list[str]:
    """The references of the exhibits someone flagged."""
    return [
        str(e.ref)
        for e in exhibits
        if any(mark.review is Review.FLAGGED for mark in reviews.get(e.id, ()))
    ]


def build_approval_card(
    share: Share,
    case_reference: str,
    exhibits: Sequence[Exhibit],
    *,
    reviews: Mapping[str, Sequence[ReviewMark]] | None = None,
    approvers: Sequence[str] = (),
    with_buttons: bool = True,
    notice: str | None = None,
) -> ac.AdaptiveCard:
    """The card in the case channel. Pending: approve/reject (Action.Execute), refreshed for the
    case's approvers; the buttons are on the card for everyone too, so it works without refresh
    (Teams mobile) — the server decides who may act.

    Each exhibit shows what the approver judges it by (`reviews`: its review marks by exhibit
    id); if one is flagged, Approve needs "I have read the flags" ticked (checked on the server).
    """
    marks = reviews or {}
    body = _summary(share, case_reference, exhibits)
    if notice:
        body.insert(
            0, ac.TextBlock(text=wording(notice), color="Attention", weight="Bolder", wrap=True)
        )
    body.append(ac.TextBlock(text="Exhibits in this share", weight="Bolder", wrap=True))
    body += [_exhibit_block(exhibit, marks.get(exhibit.id, ())) for exhibit in exhibits]
    data = {"shareId": share.id}
    if share.status is ShareStatus.PENDING and with_buttons:
        flagged = flagged_refs(exhibits, marks)
        if flagged:
            body.append(
                ac.ToggleInput(
                    id=FLAGS_READ,
                    title=f"I have read the flags on {', '.join(flagged)}",
                    value_on="true",
                    value_off="false",
                    value="false",
                    wrap=True,
                    separator=True,
                )
            )
        body.append(
            ac.TextInput(
                id="reason",
                label="Note (required to reject)",
                placeholder="Why, for the record",
                is_multiline=True,
                max_length=500,
            )
        )
        body.append(
            ac.ActionSet(
                actions=[
                    ac.ExecuteAction(title="Approve", verb=APPROVE, data=data, style="positive"),
                    ac.ExecuteAction(title="Reject", verb=REJECT, data=data, style="destructive"),
                ]
            )
        )
    card = ac.AdaptiveCard(body=body)
    if share.status is ShareStatus.PENDING and approvers:
        card.refresh = ac.RefreshDefinition(
            action=ac.ExecuteAction(title="Refresh", verb=REFRESH, data=data),
            user_ids=list(approvers)[:MAX_REFRESH_USERS],
        )
    return card


def build_rejection_card(
    share: Share, case_reference: str, exhibits: Sequence[Exhibit]
) -> ac.AdaptiveCard:
    """For the requester, in their 1:1 chat: who rejected their share request, when and why."""
    refs = ", ".join(str(e.ref) for e in exhibits) or "\u2014"
    return ac.AdaptiveCard(
        body=[
            ac.TextBlock(
                text="Share request rejected",
                weight="Bolder",
                size="Medium",
                color="Attention",
                wrap=True,
            ),
            ac.TextBlock(
                text=f"Your request to share {plain(refs)} of {plain(case_reference)} with "
                f"{plain(share.recipient)} was not approved. Nothing was shared.",
                wrap=True,
            ),
            *(
                ac.TextBlock(text=line, wrap=True, weight="Bolder")
                for line in decision_lines(share)
            ),
            ac.TextBlock(
                text="If the note can be answered, ask again with a new `share` request.",
                wrap=True,
                is_subtle=True,
            ),
            ac.FactSet(
                facts=[
                    ac.Fact(title="Case", value=plain(case_reference)),
                    ac.Fact(title="Share id", value=plain(share.id)),
                    ac.Fact(title="Reason given", value=plain(share.reason, limit=LONG)),
                ]
            ),
        ]
    )


def build_link_card(
    share: Share,
    case_reference: str,
    url: str,
    *,
    mailed_from: str | None = None,
    mail_problem: str | None = None,
    reissued: bool = False,
) -> ac.AdaptiveCard:
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
    body: list[ac.CardElement] = [
        ac.TextBlock(
            text="New link for the share" if reissued else "Share approved",
            weight="Bolder",
            size="Medium",
            color="Good",
        ),
        *(ac.TextBlock(text=line, wrap=True) for line in decision_lines(share)),
        ac.TextBlock(
            text=("The previous link no longer works. " if reissued else "")
            + f"{what} It works until {expires}; every use is recorded. Do not post it "
            "anywhere else.",
            wrap=True,
            color="Attention" if mail_problem else None,
        ),
        ac.FactSet(
            facts=[
                ac.Fact(title="Case", value=plain(case_reference)),
                ac.Fact(title="Share id", value=plain(share.id)),
            ]
        ),
    ]
    if mailed_from is None or mail_problem is not None:
        # To pass on by hand, it has to be copied: a small line of text beside the button.
        body.append(ac.TextBlock(text=url, size="Small", is_subtle=True, wrap=True))
    return ac.AdaptiveCard(
        body=body, actions=[ac.OpenUrlAction(title="Open the link", url=url, style="positive")]
    )


def build_share_list_card(case_reference: str, shares: Sequence[Share]) -> ac.AdaptiveCard:
    """The shares of a case and their state."""
    body: list[ac.CardElement] = [
        ac.TextBlock(
            text=f"Shares of {plain(case_reference)}", weight="Bolder", size="Medium", wrap=True
        )
    ]
    if not shares:
        body.append(ac.TextBlock(text="No shares yet.", wrap=True))
    for share in shares[:40]:
        status, color = _STATUS[share.status]
        body.append(
            ac.Container(
                separator=True,
                items=[
                    ac.TextBlock(
                        text=f"**{plain(share.recipient)}** \u2014 {status}",
                        color=color,
                        wrap=True,
                    ),
                    ac.TextBlock(
                        text=f"{plain(share.id)} \u00b7 {len(share.exhibit_ids)} exhibit(s) \u00b7 "
                        f"{share.downloads} download(s) \u00b7 requested by "
                        f"{plain(share.requested_by_name)}, {when(share.created_at)}",
                        is_subtle=True,
                        wrap=True,
                    ),
                    *(
                        ac.TextBlock(text=line, wrap=True, size="Small")
                        for line in decision_lines(share)
                    ),
                ],
            )
        )
    return ac.AdaptiveCard(body=body)


SHARE_FORM = "share.form"


def build_share_form(
    exhibits: str,
    organisation_types: Sequence[str],
    days: tuple[int, int, int],
    *,
    form_id: str,
    case_reference: str | None = None,
    filled: Mapping[str, str] | None = None,
    notice: str | None = None,
) -> ac.AdaptiveCard:
    """The share request as a form (what `share` with no recipient answers).

    Its submit is a Universal Action: the answer replaces the form. `form_id` is random, made
    when the form is built, and recorded with the share it makes, so the same form submitted
    twice makes one request. `filled` and `notice`: the form again, as submitted, with what to
    put right.
    """
    low, default, high = days
    values = dict(filled or {})
    body: list[ac.CardElement] = [
        ac.TextBlock(text="Request an external share", weight="Bolder", size="Medium"),
        ac.TextBlock(
            text="An approver on the case decides; the recipient gets an expiring link.",
            is_subtle=True,
            wrap=True,
        ),
    ]
    if notice:
        body.append(
            ac.TextBlock(text=wording(notice), color="Attention", weight="Bolder", wrap=True)
        )
    if case_reference:
        body.append(ac.FactSet(facts=[ac.Fact(title="Case", value=plain(case_reference))]))
    organisation = values.get("organisation") or (
        organisation_types[0] if organisation_types else None
    )
    body += [
        ac.TextInput(
            id="exhibits",
            label="Exhibits (e.g. JS/1,JS/2)",
            value=values.get("exhibits", exhibits),
            is_required=True,
            error_message="Name at least one exhibit",
        ),
        ac.TextInput(
            id="recipient",
            label="Recipient's email",
            value=values.get("recipient") or None,
            is_required=True,
            style="Email",
            error_message="An email address is required",
        ),
        ac.ChoiceSetInput(
            id="organisation",
            label="Organisation",
            value=organisation,
            choices=[
                ac.Choice(title=t.replace("-", " ").title(), value=t) for t in organisation_types
            ],
        ),
        ac.NumberInput(
            id="days",
            label=f"Link lasts (days, {low}-{high})",
            min=low,
            max=high,
            value=_number(values.get("days"), default),
            is_required=True,
        ),
        ac.TextInput(
            id="reason",
            label="Reason",
            value=values.get("reason") or None,
            is_multiline=True,
            is_required=True,
            max_length=500,
            error_message="A reason is required",
        ),
    ]
    data = {"exhibitAction": SHARE_FORM, "formId": form_id}
    if case_reference:
        data["case"] = case_reference
    return ac.AdaptiveCard(
        body=body,
        actions=[
            ac.ExecuteAction(title="Request share", verb=SHARE_FORM, data=data, style="positive")
        ],
    )


def _number(text: str | None, default: int) -> int:
    try:
        return int(str(text).split(".")[0]) if text else default
    except ValueError:
        return default

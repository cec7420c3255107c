"""The custody card: an exhibit's story in plain words, newest page first, with the case chain's
verification on top; and who viewed the exhibit, on request."""

from __future__ import annotations

from collections.abc import Mapping

from cards.models import ac
from cards.text import LONG, plain, wording
from cards.time import when
from evidence.anchoring import AnchoredReport
from evidence.custody import Action, CustodyEntry
from evidence.custody_story import SharedWith
from evidence.exhibits import CustodyView

CUSTODY_EARLIER, CUSTODY_VIEWS = "custody.earlier", "custody.views"
MAX_VIEWS_LISTED = 50


def build_custody_card(view: CustodyView) -> ac.AdaptiveCard:
    """The exhibit's story (a page of it, oldest first), whether the case's chain verifies
    against its signed checkpoints (each problem named), the views folded into one line, and
    buttons for earlier entries and for who viewed it."""
    body: list[ac.CardElement] = [
        ac.TextBlock(
            text=plain(f"Custody of {view.case.reference} {view.exhibit.ref}"),
            weight="Bolder",
            size="Medium",
            wrap=True,
        ),
        *_verification(view.report),
    ]
    if view.earlier:
        body.append(ac.TextBlock(text=_earlier_text(view.earlier), is_subtle=True, wrap=True))
    for entry in view.entries:
        body.append(
            ac.Container(
                separator=True,
                items=[
                    ac.TextBlock(text=entry_words(entry, view.shares), wrap=True),
                    ac.TextBlock(
                        text=f"{when(entry.at)} \u00b7 entry {entry.sequence}" + _share_note(entry),
                        is_subtle=True,
                        wrap=True,
                    ),
                ],
            )
        )
    if not view.entries:
        body.append(ac.TextBlock(text="No entries.", is_subtle=True, wrap=True))
    body.append(ac.TextBlock(text=_views_text(view), separator=True, wrap=True))
    actions = []
    data = {"exhibitId": view.exhibit.id, **({"reason": view.reason} if view.reason else {})}
    if view.earlier and view.entries:
        before = str(view.entries[0].sequence)
        actions.append(
            ac.ExecuteAction(
                title="Earlier entries", verb=CUSTODY_EARLIER, data={**data, "before": before}
            )
        )
    if view.views:
        actions.append(ac.ExecuteAction(title="Who viewed it", verb=CUSTODY_VIEWS, data=data))
    if actions:
        body.append(ac.ActionSet(actions=list(actions)))
    return ac.AdaptiveCard(body=body)


def build_custody_views_card(view: CustodyView) -> ac.AdaptiveCard:
    """Who viewed the exhibit or its custody, and when, newest first."""
    body: list[ac.CardElement] = [
        ac.TextBlock(
            text=plain(f"Views of {view.case.reference} {view.exhibit.ref}"),
            weight="Bolder",
            size="Medium",
            wrap=True,
        ),
        ac.TextBlock(text=_views_text(view), wrap=True),
    ]
    for entry in reversed(view.views[-MAX_VIEWS_LISTED:]):
        what = "the custody" if entry.action == Action.CUSTODY_VIEWED else "the exhibit"
        line = f"{plain(entry.actor_name)} viewed {what}, {when(entry.at)}"
        reason = entry.details.get("reason")
        if reason:
            line += f": {plain(str(reason), limit=LONG)}"
        body.append(ac.TextBlock(text=line, wrap=True, spacing="Small"))
    if len(view.views) > MAX_VIEWS_LISTED:
        earlier = len(view.views) - MAX_VIEWS_LISTED
        body.append(ac.TextBlock(text=f"\u2026 and {earlier} earlier views.", is_subtle=True))
    return ac.AdaptiveCard(body=body)


def entry_words(entry: CustodyEntry, shares: Mapping[str, SharedWith]) -> str:
    """One entry in plain words: "Approved for cps.gov.uk (prosecutor) by Ravi Patel"."""
    who = plain(entry.actor_name)
    details = entry.details
    note = details.get("note") or details.get("reason") or details.get("comment")
    why = f": {plain(str(note), limit=LONG)}" if note else ""
    action = entry.action
    shared = shares.get(str(details.get("share")))
    towards = f" for {_shared_with(shared)}" if shared else ""
    if action == Action.INTAKE_STARTED:
        name = details.get("file_name")
        return f"Sent for intake by {who}" + (f" ({plain(str(name))})" if name else "")
    if action == Action.INTAKE_COMPLETED:
        return f"Stored and hashed, SHA-256 {plain(str(details.get('sha256', '')))[:16]}\u2026"
    if action == Action.INTAKE_FAILED:
        return "Intake failed" + why
    if action == Action.EXHIBIT_VERIFIED:
        if details.get("matches"):
            return f"Verified by {who}: the stored file matches its intake hash"
        return f"Verification by {who} FAILED: the stored file does not match"
    if action == Action.EXHIBIT_REVIEWED:
        return f"Reviewed by {who}"
    if action == Action.EXHIBIT_FLAGGED:
        return f"Flagged by {who}{why}"
    if action == Action.SHARE_REQUESTED:
        return f"Share{towards} requested by {who}{why}"
    if action == Action.SHARE_APPROVED:
        return f"Approved{towards} by {who}"
    if action == Action.SHARE_REJECTED:
        return f"Share{towards} rejected by {who}{why}"
    if action == Action.SHARE_REVOKED:
        return f"Share{towards} revoked by {who}{why}"
    if action == Action.SHARE_EXPIRED:
        return f"Share{towards} expired"
    if action == Action.SHARE_LINK_DELIVERED:
        return "Link sent to the requester" + (" (not delivered)" if details.get("problem") else "")
    if action == Action.SHARE_LINK_REISSUED:
        return f"New link for the share asked for by {who}"
    if action == Action.EXHIBIT_DOWNLOADED:
        count = details.get("downloads")
        at = f" at {_shared_with(shared)}" if shared else ""
        return f"Downloaded by the recipient{at}" + (
            f", download {count} of the share" if count else ""
        )
    if action == Action.ACCESS_REFUSED:
        return f"Access refused to {who}"
    return f"{plain(action)} by {who}"


def _shared_with(shared: SharedWith) -> str:
    domain = shared.recipient.rpartition("@")[2]
    kind = shared.organisation_type.replace("-", " ")
    if domain and kind:
        return plain(f"{domain} ({kind})")
    return plain(domain or kind)


def _share_note(entry: CustodyEntry) -> str:
    share = entry.details.get("share")
    return f" \u00b7 share {plain(str(share))}" if share else ""


def _earlier_text(earlier: int) -> str:
    return f"{earlier} earlier {'entry' if earlier == 1 else 'entries'} not shown."


def _views_text(view: CustodyView) -> str:
    count = len(view.views)
    if count == 0:
        return "Not viewed before."
    return f"Viewed {count} {'time' if count == 1 else 'times'} (the exhibit or its custody)."


def _verification(report: AnchoredReport) -> list[ac.CardElement]:
    if report.findings:
        return [
            ac.TextBlock(
                text="CHAIN OF CUSTODY NOT VERIFIED: tell your supervisor and professional "
                "standards.",
                color="Attention",
                weight="Bolder",
                wrap=True,
            ),
            *(
                ac.TextBlock(
                    text=wording(f"\u2022 {finding.words[:1].upper()}{finding.words[1:]}."),
                    color="Attention",
                    wrap=True,
                )
                for finding in report.findings[:10]
            ),
        ]
    if not report.checkpoints_read:
        return [
            ac.TextBlock(
                text=f"The {report.entries} entries of the case chain link up, but its signed "
                "checkpoints could not be read just now: try again shortly.",
                color="Warning",
                weight="Bolder",
                wrap=True,
            )
        ]
    return [
        ac.TextBlock(
            text=f"Chain of custody verified ({report.entries} entries in the case chain).",
            color="Good",
            weight="Bolder",
            wrap=True,
        ),
        ac.TextBlock(text=_anchored_text(report), is_subtle=True, wrap=True),
    ]


def _anchored_text(report: AnchoredReport) -> str:
    """What the signed checkpoints cover."""
    if report.anchored_sequence is None or report.anchored_at is None:
        return "No signed checkpoint covers this chain yet; one is taken within minutes."
    text = (
        f"Signed checkpoint of entry {report.anchored_sequence}, taken "
        f"{when(report.anchored_at, seconds=True)}, matches."
    )
    if report.anchored_sequence < report.entries:
        text += f" Entries after {report.anchored_sequence} are covered by the next checkpoint."
    return text

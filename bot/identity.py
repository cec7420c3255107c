"""Who is speaking: the officer the directory knows, never what the activity claims."""

from __future__ import annotations

import logging

from microsoft_agents.activity import Activity

from evidence.errors import NotEnrolled
from evidence.officers import Officer
from evidence.ports import Directory

logger = logging.getLogger(__name__)


async def resolve_officer(activity: Activity, directory: Directory) -> Officer:
    """The enrolled, enabled officer behind `activity`.

    Raises `NotEnrolled` when the sender has no Entra object id, is not in the directory, or
    their account is disabled; `DirectoryUnavailable` when the directory cannot answer.
    """
    sender = activity.from_property
    object_id = (sender.aad_object_id if sender else None) or ""
    if not object_id:
        raise NotEnrolled("")
    officer = await directory.officer(object_id)
    if officer is None:
        logger.info("Sender %s is not in the directory", object_id)
        raise NotEnrolled(object_id)
    if not officer.enabled:
        logger.info("Sender %s has a disabled account", object_id)
        raise NotEnrolled(object_id, disabled=True)
    return officer

"""How times, sizes, regions and file kinds read on every card, page and e-mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.wording import sentence
from cards.time import when
from cards.words import file_kind, region_name, size_text


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        # Clocks go forward at 01:00 UTC on the last Sunday of March (29 March 2026)...
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "29 Mar 2026 00:59 GMT"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29 Mar 2026 02:00 BST"),
        # ...and back at 01:00 UTC on the last Sunday of October (25 October 2026): the hour
        # from 01:00 to 02:00 happens twice, and only the zone tells which one is meant.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "25 Oct 2026 01:30 BST"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "25 Oct 2026 01:30 GMT"),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "31 Dec 2026 23:59 GMT"),
        (datetime(2026, 7, 31, 23, 30, tzinfo=UTC), "01 Aug 2026 00:30 BST"),  # the next day
        # A moment recorded with another offset is the same instant.
        (datetime(2026, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "01 Jul 2026 13:00 BST"),
        # Stored moments without a zone are UTC.
        (datetime(2026, 7, 1, 12, 0), "01 Jul 2026 13:00 BST"),  # noqa: DTZ001
    ],
)
def test_times_are_uk_local_time_with_the_zone(moment: datetime, shown: str) -> None:
    assert when(moment) == shown


def test_seconds_are_shown_when_asked() -> None:
    assert (
        when(datetime(2026, 6, 1, 8, 5, 7, tzinfo=UTC), seconds=True) == "01 Jun 2026 09:05:07 BST"
    )
    assert (
        when(datetime(2026, 1, 1, 8, 5, 7, tzinfo=UTC), seconds=True) == "01 Jan 2026 08:05:07 GMT"
    )


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "size unknown"),
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1.0 KiB"),
        (27_955, "27.3 KiB"),  # what the page used to call 28.0 KB
        (1024**2 - 1, "1024.0 KiB"),
        (1024**2, "1.0 MiB"),
        (3_355_443, "3.2 MiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**4, "3.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),
    ],
)
def test_sizes_are_binary_units_with_one_decimal(size: int | None, shown: str) -> None:
    assert size_text(size) == shown


def test_regions_are_named_as_people_say_them() -> None:
    assert region_name("uksouth") == "UK South (London)"
    assert region_name("ukwest") == "UK West (Cardiff)"
    assert region_name("UKSouth") == "UK South (London)"
    assert region_name("swedencentral") == "swedencentral"  # unknown: as configured
    assert region_name("odd\u202eregion") == "oddregion"  # and never disguised


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("image/jpeg", "JPEG image"),
        ("image/jpg", "JPEG image"),  # a common alias
        ("IMAGE/JPEG; charset=binary", "JPEG image"),
        ("video/mp4", "MP4 video"),
        ("application/pdf", "PDF document"),
        ("image/heic", "HEIC image (iPhone photo)"),
        ("application/x-msdownload", "Windows program"),
        ("application/octet-stream", "File of unknown type"),
        ("", "File of unknown type"),
        (None, "File of unknown type"),
        ("application/x-custom", "File (application/x-custom)"),
    ],
)
def test_file_kinds_instead_of_mime_types(mime: str | None, kind: str) -> None:
    assert file_kind(mime) == kind


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        ("give the case a title after its reference", "Give the case a title after its reference."),
        ("keep it within 120 characters.", "Keep it within 120 characters."),
        ("type `share link S-...`", "Type `share link S-...`"),
        ("\u201cx\u201d is not a case reference", "\u201cx\u201d is not a case reference."),
        ("", ""),
    ],
)
def test_what_the_bot_says_starts_with_a_capital(problem: str, said: str) -> None:
    assert sentence(problem) == said

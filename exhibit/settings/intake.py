"""The intake worker's settings: what it accepts, from where, how hard it retries, how fast."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict

from exhibit.settings.base import Concern, Flag, SettingsError, Words, between


class IntakeLimits(BaseModel):
    """How slowly a source may send, and how many jobs a worker runs (at most, per officer)."""

    model_config = ConfigDict(frozen=True)

    download_timeout_seconds: int = 600  # a file may always take this long, larger ones longer
    download_min_bytes_per_second: int = 64 * 1024
    download_rate_window_seconds: int = 30
    concurrency: int = 2
    slots_per_officer: int = 0  # 0: half the worker's slots, rounded up


class IntakeSettings(Concern):
    """The intake worker: what it accepts, from where, how hard it retries, how fast."""

    run_worker: Flag = True
    max_file_bytes: Annotated[int, between(1, 250 << 30)] = 10 << 30
    intake_max_attempts: Annotated[int, between(1, 50)] = 5
    intake_hold_seconds: Annotated[int, between(3, 3600)] = 60
    intake_drain_seconds: Annotated[int, between(0, 3600)] = 5
    download_hosts: Words = (
        "*.sharepoint.com",
        "*.sharepoint.us",
        "smba.trafficmanager.net",
        "*.botframework.com",
    )
    download_timeout_seconds: Annotated[int, between(1, 7 * 86400)] = 600
    download_min_bytes_per_second: Annotated[int, between(1, 1 << 30)] = 64 * 1024
    download_rate_window_seconds: Annotated[int, between(1, 3600)] = 30
    intake_concurrency: Annotated[int, between(1, 64)] = 2
    intake_slots_per_officer: Annotated[int, between(0, 64)] = 0
    # Durable background jobs (verify, approve after re-verifying, export): worker/jobs.py.
    job_max_attempts: Annotated[int, between(1, 20)] = 3
    job_lease_seconds: Annotated[int, between(3, 3600)] = 120
    job_concurrency: Annotated[int, between(1, 32)] = 2
    job_poll_seconds: Annotated[int, between(1, 600)] = 5
    job_backoff_seconds: Annotated[int, between(0, 3600)] = 30

    @property
    def intake_limits(self) -> IntakeLimits:
        """The worker's pace and concurrency, as one value."""
        return IntakeLimits(
            download_timeout_seconds=self.download_timeout_seconds,
            download_min_bytes_per_second=self.download_min_bytes_per_second,
            download_rate_window_seconds=self.download_rate_window_seconds,
            concurrency=self.intake_concurrency,
            slots_per_officer=self.intake_slots_per_officer,
        )

    def _check_intake(self) -> None:
        if self.intake_slots_per_officer > self.intake_concurrency:
            raise SettingsError(
                "EXHIBIT_INTAKE_SLOTS_PER_OFFICER",
                f"must be between 0 and {self.intake_concurrency}",
            )

"""How a worker paces itself: slots, attempts, holds."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How the worker paces itself."""

    hold_seconds: int = 60
    max_attempts: int = 5
    max_file_bytes: int = 10 << 30
    poll_seconds: float = 1.0
    backoff_seconds: int = 5
    concurrency: int = 2
    slots_per_officer: int = 0  # 0: half the slots, rounded up
    busy_delay_seconds: int = 5
    drain_seconds: float = 5.0  # on stop, how long jobs under way may take to finish

    def __post_init__(self) -> None:
        if (
            self.concurrency < 1
            or self.slots_per_officer < 0
            or self.busy_delay_seconds < 0
            or self.drain_seconds < 0
        ):
            raise ValueError(
                "concurrency must be positive, the officer slots, delay and drain not negative"
            )

    @property
    def officer_cap(self) -> int:
        """Jobs of one officer this worker runs at once."""
        if self.slots_per_officer:
            return min(self.slots_per_officer, self.concurrency)
        return math.ceil(self.concurrency / 2)

"""The pacer: the sleeps it asks for keep the bytes read under the budget (a fake clock)."""

from __future__ import annotations

import pytest

from worker.pacing import Clock, Pacer


class Ticks:
    """A monotonic clock that moves only when slept on or told to."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def pacer(rate: int, ticks: Ticks) -> Pacer:
    return Pacer(rate, Clock(monotonic=ticks.monotonic, sleep=ticks.sleep))


async def test_instant_reads_sleep_exactly_what_the_budget_needs() -> None:
    ticks = Ticks()
    paced = pacer(1000, ticks)
    for size in (400, 400, 400, 2500):
        await paced.read(size)
    assert ticks.sleeps == pytest.approx([0.4, 0.4, 0.4, 2.5])
    assert paced.read_bytes == 3700


async def test_slow_reads_are_not_slowed_further() -> None:
    ticks = Ticks()
    paced = pacer(1000, ticks)
    await paced.read(1000)  # paid: 1 s
    for _ in range(3):
        ticks.now += 2.0  # storage took 2 s for 1000 bytes: already under the budget
        await paced.read(1000)
    assert ticks.sleeps == pytest.approx([1.0])


async def test_idle_time_banks_at_most_one_second_of_budget() -> None:
    ticks = Ticks()
    paced = pacer(1000, ticks)
    await paced.read(1000)
    ticks.now += 3600.0  # an hour between passes
    await paced.read(3000)  # one second of it was banked, not an hour
    assert ticks.sleeps == pytest.approx([1.0, 2.0])


async def test_over_any_run_the_rate_stays_under_the_budget() -> None:
    ticks = Ticks()
    paced = pacer(4096, ticks)
    read = 0
    for size in [4 << 20, 1, 17, 65536, 3 << 20, 12345]:
        await paced.read(size)
        read += size
        assert read <= 4096 * ticks.now + 1e-6


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0, Clock())

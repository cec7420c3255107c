"""Background work: one task per key, failures logged, shutdown waits then cancels."""

from __future__ import annotations

import asyncio

import pytest

from worker.background import Background


async def test_one_task_per_key_and_the_key_is_free_again_after() -> None:
    background = Background()
    release = asyncio.Event()
    done: list[str] = []

    async def work() -> None:
        await release.wait()
        done.append("a")

    assert background.start("a", work)
    assert not background.start("a", work)  # a second click while the first is checked
    assert background.running("a")
    release.set()
    await background.wait()

    assert done == ["a"]
    assert not background.running("a")
    assert background.start("a", work)
    await background.wait()


async def test_a_failure_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    background = Background()

    async def broken() -> None:
        raise RuntimeError("storage went away")

    background.start("b", broken)
    await background.wait()

    assert "Background work b failed" in caplog.text
    assert not background.running("b")


async def test_shutdown_waits_for_work_then_cancels_what_is_left() -> None:
    background = Background(grace=0.2)
    finished: list[str] = []
    cancelled: list[str] = []

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.append("quick")

    async def endless() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("endless")
            raise

    background.start("quick", quick)
    background.start("endless", endless)
    await background.aclose()

    assert finished == ["quick"]
    assert cancelled == ["endless"]
    assert not background.running("endless")

"""End-to-end: bot + Azurite + Agents Playground, driven in headless Chromium by Playwright.

One stack and one browser page per test session: a page reload resets the Playground's
conversations, so tests move between conversations through the tree instead.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from devtools.devstack import ROOT, DevStack, Ports

ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine has no network: without these Chromium keeps dialling Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an end-to-end test."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """The whole local stack on free ports, storage in memory."""
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run scripts/test, which installs it")
    data = tmp_path_factory.mktemp("stack")
    devstack = DevStack(data_dir=data, ports=Ports.free(), in_memory_storage=True)
    devstack.start()
    try:
        yield devstack
    finally:
        devstack.stop()
        logs = ARTIFACTS / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for log in devstack.log_dir.glob("*.log"):
            shutil.copyfile(log, logs / log.name)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium (no browser download: Playwright drives the system one)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
async def page(stack: DevStack, browser: Browser) -> AsyncIterator[Page]:
    """The Playground, open and connected to the bot."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    playground = await context.new_page()
    await playground.goto(stack.playground_url)
    await playground.locator("div[role=textbox][contenteditable=true]").wait_for(timeout=30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield playground
    finally:
        await context.close()

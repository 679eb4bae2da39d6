"""The HTML report in a real headless Chromium (Debian's, installed by tests/browser.sh): it loads
from disk with no network, shows every input and output, and its filters work."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from kbatch.simulator import FAIL, Simulator
from tests.project import Project, expand, multi, video

#: Flags that keep Chromium off the network and fit a root sandbox (see the machine notes).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    for candidate in (os.environ.get("KBATCH_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail("no Chromium: run `bash tests/browser.sh` (the README's test command does)")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page_path(tmp_path: Path, live: Simulator) -> Path:
    jobs = [
        video("cat"),
        video("broken", prompt=f"{FAIL} a cat"),
        expand("room", n=2),
        multi("pair"),
    ]
    project = Project(tmp_path, live, jobs)
    await project.run()
    return project.out / "index.html"


async def visible(page: Page) -> list[str]:
    names: list[str] = await page.eval_on_selector_all(
        "#jobs .job:not([hidden]) h2", "nodes => nodes.map(n => n.textContent)"
    )
    return names


async def test_the_gallery_loads_offline_shows_media_and_filters(
    page_path: Path, browser: Browser
) -> None:
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(page_path.as_uri())
    await page.wait_for_load_state("load")

    # Nothing but the page's own folder: no network at view time.
    assert requested and all(url.startswith(("file://", "data:")) for url in requested)
    # Every image (inputs and outputs) decoded; every video's metadata loaded.
    images = await page.eval_on_selector_all("img", "nodes => nodes.map(n => n.naturalWidth)")
    assert len(images) == 5 + 3  # inputs: 1 each, 2 for pair; outputs: room 2, pair 1
    assert all(width > 0 for width in images), images
    await page.wait_for_function(
        "Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 1)"
    )
    durations = await page.eval_on_selector_all("video", "nodes => nodes.map(n => n.duration)")
    assert len(durations) == 1 and durations[0] > 0
    assert "sim:fail" in (await page.text_content(".job .error") or "")
    figures = await page.eval_on_selector_all(
        "#summary div", "nodes => nodes.map(n => n.innerText.replace('\\n', ' '))"
    )
    assert figures[:3] == ["4 jobs", "3 done", "1 failed"]

    assert await visible(page) == ["cat", "broken", "room", "pair"]
    await page.uncheck('#filters input[name="state"][value="downloaded"]')
    assert await visible(page) == ["broken"]
    assert await page.text_content("#visible") == "1"
    await page.check('#filters input[name="state"][value="downloaded"]')
    await page.uncheck('#filters input[name="kind"][value="image2video"]')
    assert await visible(page) == ["room", "pair"]
    assert await page.text_content("#visible") == "2"
    await page.close()

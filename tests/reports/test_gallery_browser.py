"""The HTML report in a real headless Chromium (Debian's, installed by tests/browser.sh): it loads
from disk with no network, shows every input and output, and its filters work."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from kbatch import reports as report
from kbatch import simulator
from kbatch.provider.catalogue import JobKind
from kbatch.reports.model import JobReport, summarize
from kbatch.reports.sources import SourceRow
from kbatch.simulator import FAIL, Simulator
from kbatch.store import JobRow, JobState
from tests.project import IMAGES, Project, expand, multi, video

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


async def search(page: Page, text: str) -> list[str]:
    """Type into the search box; the visible jobs once the page has applied it."""
    await page.fill("#search", text)
    await page.wait_for_function(
        "text => document.getElementById('jobs').dataset.search === text", arg=text
    )
    return await visible(page)


async def test_cards_form_a_dense_grid_with_prompts_and_search(
    page_path: Path, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(page_path.as_uri())
    tops = await page.eval_on_selector_all(
        "#jobs .job", "nodes => nodes.map(n => Math.round(n.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 1, "all four cards share the first row"
    prompts = await page.eval_on_selector_all(
        "#jobs .job .prompt", "nodes => nodes.map(n => n.textContent)"
    )
    assert "a cat yawns" in prompts and f"{FAIL} a cat" in prompts

    assert await search(page, "BROKEN") == ["broken"]  # by id, any case
    assert await search(page, "cat yawns") == ["cat"]  # by prompt: every word must match
    await page.uncheck('#filters input[name="kind"][value="image2video"]')  # and the filters
    assert await visible(page) == []
    assert await search(page, "") == ["room", "pair"]
    assert await page.text_content("#visible") == "2"
    await page.close()


def big_report(folder: Path, count: int) -> Path:
    """A gallery of ``count`` jobs, every tenth a video, each output a file of its own."""
    image = folder / "one.png"
    image.write_bytes((IMAGES / "ok.png").read_bytes())
    clip = folder / "one.mp4"
    clip.write_bytes((Path(simulator.__file__).parent / "fallback.mp4").read_bytes())
    jobs = []
    for index in range(count):
        is_video = index % 10 == 0
        name = f"r/{index}.{'mp4' if is_video else 'png'}"
        (folder / "r").mkdir(exist_ok=True)
        os.link(clip if is_video else image, folder / name)
        jobs.append(
            JobReport(
                id=f"job-{index:05d}",
                kind="image2video" if is_video else "text2image",
                pack="video" if is_video else "image",
                state="failed" if index % 100 == 7 else "downloaded",
                task_id=str(index),
                external_task_id=None,
                attempts=1,
                submitted=None,
                finished=None,
                seconds=None,
                units=1.0,
                outputs=(name,),
                result_urls=(),
                error_reason=None,
                error_code=None,
                error_message=None,
                output_kinds=("video" if is_video else "image",),
                source=SourceRow(
                    {"prompt": 0}, (f"prompt number {index} " + ("zebra" if index == 9876 else ""),)
                ),
            )
        )
    rows = [JobRow(j.id, JobKind(j.kind), "f", state=JobState(j.state)) for j in jobs]
    built = report.Report("big", "now", summarize(rows), tuple(jobs))
    page = folder / "index.html"
    report.write_file(built, "html", page)
    return page


async def test_ten_thousand_jobs_load_lazily_and_filter(tmp_path: Path, browser: Browser) -> None:
    page_file = big_report(tmp_path, 10_000)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(page_file.as_uri())
    await page.wait_for_load_state("load")
    assert await page.eval_on_selector_all("#jobs .job", "nodes => nodes.length") == 10_000
    media = [url for url in requested if "/r/" in url]
    assert 0 < len(media) < 300, "only media near the screen is fetched"
    sources = await page.eval_on_selector_all("video", "v => v.filter(n => n.src).length")
    assert 0 < sources < 100, "a video gets its source only near the screen"

    assert await search(page, "zebra") == ["job-09876"]
    assert await page.text_content("#visible") == "1"
    await search(page, "")
    await page.uncheck('#filters input[name="state"][value="downloaded"]')
    assert await page.text_content("#visible") == "100"
    await page.close()

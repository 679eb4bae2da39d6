"""Every request example on Kling's own pages (``aself101/kling-api`` ``docs/api/``, a public
snapshot of 2026-09) for the routes kbatch speaks, replayed against the default simulator:
each is accepted. The examples are data (``examples/*.json``: the page, the route, the body),
with image and video URLs that point off this machine replaced by files a test serves on
loopback (``replaced`` says which); everything else is as the page wrote it. The pages have
no request example for the old image2video and text2video routes (those pages are absent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.conftest import Files, Raw, resolve

EXAMPLES = Path(__file__).parent / "examples"
CASES = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in EXAMPLES.glob("*.json")
}


def test_each_example_names_its_page_and_route() -> None:
    assert len(CASES) >= 30
    for example in CASES.values():
        assert example["page"].startswith("aself101/kling-api docs/api/kling-")
        assert example["method"] in ("GET", "POST") and example["route"].startswith("/")
        assert all(not url.startswith("{files}") for url in example.get("replaced", {}))


@pytest.mark.parametrize("name", sorted(CASES))
async def test_kling_accepts_its_own_example(raw: Raw, files: Files, name: str) -> None:
    example: dict[str, Any] = CASES[name]
    if example["method"] == "GET":
        status, answer = await raw.get(f"{example['route']}?{example['query']}")
    else:
        status, answer = await raw.post(example["route"], resolve(example["body"], files))
    assert (status, answer["code"]) == (200, 0), (example["page"], answer)

"""What the docs and the README show works: every YAML example is a manifest `kbatch validate`
accepts (or is marked a fragment), every `kbatch ...` command and option exists, and the README
stays a short front page with CI's two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO
from tests.docs import snippets

PAGES = snippets.pages(REPO)


def test_every_yaml_example_is_a_valid_manifest_or_a_marked_fragment(tmp_path: Path) -> None:
    blocks = [b for page in PAGES for b in snippets.blocks(page) if b.lang == "yaml"]
    assert any(not b.fragment for b in blocks) and any(b.fragment for b in blocks)
    assert snippets.manifest_problems(PAGES, REPO / "manifests", tmp_path) == []


def test_an_invalid_example_is_reported_at_its_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```yaml\nversion: 1\nname: bad\nprovider: simulator\n"
        "jobs:\n  - {kind: image_expand, image: images/cat.png, n: 10}\n```\n",
        encoding="utf-8",
    )
    (problem,) = snippets.manifest_problems([page], REPO / "manifests", tmp_path / "scratch")
    assert problem.startswith(f"{page}:4: kbatch validate says:")
    assert "$.jobs[0].n: 10 is above the maximum 9" in problem


def test_every_command_shown_exists_with_its_options() -> None:
    shown = list(snippets.commands(PAGES))
    assert len(shown) > 30
    assert snippets.command_problems(PAGES) == []


def test_an_unknown_command_or_option_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nkbatch run shots.yaml --no-such-flag\n```\n\nAnd `kbatch frobnicate x`.\n",
        encoding="utf-8",
    )
    assert snippets.command_problems([page]) == [
        f"{page}:2: `kbatch run shots.yaml --no-such-flag`: kbatch run has no option "
        "--no-such-flag",
        f"{page}:5: `kbatch frobnicate x`: kbatch has no command 'frobnicate'",
    ]


def test_the_readme_is_short_gives_the_two_commands_and_links_into_the_docs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.split("\n")) < 200
    demo = (
        "python3 -m venv .venv && .venv/bin/pip install . "
        "&& .venv/bin/kbatch run manifests/demo.yaml"
    )
    tests = (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && bash tests/browser.sh "
        '&& eval "$(bash tests/postgres.sh)" && .venv/bin/python -m pytest'
    )
    assert f"<!-- demo-command -->\n```sh\n{demo}\n```" in readme
    assert f"<!-- test-command -->\n```sh\n{tests}\n```" in readme
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) > 10
    assert [link for link in links if not (REPO / link).exists()] == []

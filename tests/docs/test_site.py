"""The docs site: built strictly, a page per kind made from the code's tables (so a rule added in
code shows, and a hand-written table cannot sneak in), and a broken link fails the build."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml

from kbatch.cli.manual import build_site
from kbatch.docsite import pages
from kbatch.errors import ConfigError
from kbatch.manifest.schema import schema
from kbatch.provider import capabilities as caps
from kbatch.provider.catalogue import JobKind
from kbatch.provider.wire import CODES
from tests.conftest import REPO


def text(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_every_kind_has_a_page_with_each_field_of_the_schema(site: Path) -> None:
    defs = schema()["$defs"]
    for kind in JobKind:
        html = text(site, f"kinds/{kind.value}.html")
        for field in defs[f"{kind.value}_fields"]["properties"]:
            assert f"<code>{field}</code>" in html, (kind, field)
        assert f'href="{kind.value}.html"' in text(site, "kinds/index.html")
    assert "kling-3.0-turbo (new API only)" in text(site, "kinds/image2video.html")


def test_generated_pages_hold_the_codes_the_commands_and_the_changelog(site: Path) -> None:
    troubleshooting = text(site, "troubleshooting.html")
    for code, (_, meaning) in CODES.items():
        assert f"{int(code)}: {meaning}" in troubleshooting
    commands = text(site, "commands.html")
    assert "--retry-failed" in commands and "kbatch docs" in commands
    first = (REPO / "CHANGELOG.md").read_text(encoding="utf-8").split("\n")[2].lstrip("# ")
    assert first in text(site, "changelog.html")
    assert "search_index" in text(site, "index.html") or (site / "search").is_dir()


def test_a_rule_added_in_code_appears_on_its_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages cannot go stale: they are made from the tables the checks use."""
    kling_v9 = caps.Capability(("std",), ("5",), {"sound": caps.ANY})
    monkeypatch.setattr(caps, "IMAGE2VIDEO", {**caps.IMAGE2VIDEO, "kling-v9": kling_v9})
    page = pages.fill("kinds/image2video.md", "# image2video\n\n<!-- kbatch:fields -->\n")
    assert "| kling-v9 | std | 5 |" in page
    assert "kling-v9 (every mode and duration)" in page  # in the sound field's models


def test_a_kind_in_the_schema_without_a_page_gets_a_generated_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pages, "kinds", lambda: [*JobKind, "face_swap"])
    existing = {pages.kind_path(kind) for kind in JobKind}
    ((path, markdown),) = pages.generated_pages(existing)
    assert path == "kinds/face_swap.md" and "<!-- kbatch:fields -->" in markdown
    assert pages.nav_kinds()[-1] == "kinds/face_swap.md"


def test_a_kind_page_without_its_generated_tables_is_refused() -> None:
    """A kind's field table written by hand would go stale: the build refuses the page."""
    hand_written = "# image2video\n\n| field | type |\n|---|---|\n| `image` | image |\n"
    with pytest.raises(ValueError, match=r"docs/kinds/image2video.md must hold"):
        pages.fill("kinds/image2video.md", hand_written)


def test_a_broken_link_fails_the_strict_build(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    # The library API's page is left as text: the link check needs no docstrings, and the
    # build is quicker without them.
    config["plugins"] = [p for p in config["plugins"] if "mkdocstrings" not in p]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copyfile(REPO / "CHANGELOG.md", tmp_path / "CHANGELOG.md")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    (tmp_path / "kbatch").symlink_to(REPO / "kbatch")  # the hooks
    page = tmp_path / "docs" / "running.md"
    page.write_text(page.read_text() + "\nSee [the moon](moon.md).\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING), pytest.raises(ConfigError, match="did not build"):
        build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert any("moon.md" in record.getMessage() for record in caplog.records)

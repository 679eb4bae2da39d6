"""MkDocs hooks (``hooks:`` in ``mkdocs.yml``): the generated pages are made inside the build.

- ``on_config``: the kinds' section of the navigation lists every kind the schema has.
- ``on_files``: a kind with no page under ``docs/kinds/`` gets a generated one.
- ``on_page_markdown``: CHANGELOG.md into the changelog page; markers in pages written by
  hand filled from the code's tables (:mod:`kbatch.docsite.pages`); a page that must hold a
  marker and does not fails the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from kbatch.docsite import pages


def _expand(entries: list[Any]) -> list[Any]:
    """The navigation with the entry naming ``kinds/index.md`` made the kinds' section."""
    expanded: list[Any] = []
    for entry in entries:
        if isinstance(entry, dict):
            ((title, value),) = entry.items()
            if value == f"{pages.KINDS_DIR}/index.md":
                entry = {title: pages.nav_kinds()}
            elif isinstance(value, list):
                entry = {title: _expand(value)}
        expanded.append(entry)
    return expanded


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if config.nav is not None:
        config.nav = _expand(list(config.nav))
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    existing = {file.src_uri for file in files}
    for path, markdown in pages.generated_pages(existing):
        files.append(File.generated(config, path, content=markdown))
    return files


#: Where the changelog page takes CHANGELOG.md (the repository's, beside mkdocs.yml).
CHANGELOG = "<!-- kbatch:changelog -->"


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if CHANGELOG in markdown.split("\n"):
        changelog = Path(config.config_file_path).parent / "CHANGELOG.md"
        markdown = markdown.replace(CHANGELOG, changelog.read_text(encoding="utf-8"))
    try:
        return pages.fill(page.file.src_uri, markdown)
    except ValueError as exc:
        raise PluginError(str(exc)) from exc

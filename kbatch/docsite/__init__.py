"""The documentation site's generated pages (MkDocs, ``mkdocs.yml`` at the repository root).

What the docs say about each kind's fields, the models, Kling's error codes and the commands is
made here from the tables the checks themselves use (the manifest schema, the model catalogue,
the capability maps, the error taxonomy, the click app), inside ``mkdocs build`` by the hooks in
:mod:`kbatch.docsite.hooks`: nothing generated is committed, so nothing generated can go stale.
"""

from __future__ import annotations

from kbatch.docsite.pages import GENERATED, generated_pages, kind_page, kinds_index

__all__ = ["GENERATED", "generated_pages", "kind_page", "kinds_index"]

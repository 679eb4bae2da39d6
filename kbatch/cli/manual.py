"""``kbatch docs``: build the documentation site (MkDocs, strict) and serve it on loopback.

The site is built from a source checkout (``mkdocs.yml`` and ``docs/`` beside the package), with
the ``docs`` extra installed (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import functools
import http.server
import os
from pathlib import Path

import click

from kbatch.cli.app import cli
from kbatch.errors import ConfigError

#: mkdocs.yml of a source checkout: the repository root, above the package.
CONFIG = Path(__file__).resolve().parents[2] / "mkdocs.yml"


def build_site(config_file: Path, site_dir: Path) -> None:
    """``mkdocs build --strict`` into ``site_dir``: a warning (a broken link, a missing page, a
    generated page that cannot be made) fails the build with ConfigError."""
    if not config_file.is_file():
        raise ConfigError(f"{config_file} not found: the docs are built from a source checkout")
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's banner about MkDocs 2.0
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import MkDocsException
    except ImportError:
        raise ConfigError("building the docs needs MkDocs: pip install -e '.[docs]'") from None
    try:
        config = load_config(str(config_file), site_dir=str(site_dir), strict=True)
        build(config)
    except MkDocsException as exc:
        raise ConfigError(f"the docs did not build: {exc}") from None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves files; logs nothing per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def server(site_dir: Path, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of a built site on 127.0.0.1 (``port`` 0: any free one), not yet serving."""
    handler = functools.partial(_Quiet, directory=str(site_dir))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(site_dir: Path, port: int) -> None:
    """Serve a built site on 127.0.0.1 until Ctrl-C."""
    with server(site_dir, port) as running:
        click.echo(f"serving {site_dir} at http://127.0.0.1:{running.server_port}/ (Ctrl-C stops)")
        try:
            running.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped")


@cli.command("docs")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to build the site into (default: site/ beside mkdocs.yml).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--build-only", is_flag=True, help="Build, and do not serve.")
def docs_command(output: Path | None, port: int, build_only: bool) -> None:
    """Build the documentation site (warnings fail it) and serve it on 127.0.0.1.

    Search runs in the browser on an index built with the site: no network is needed, but
    the browser wants the site served (as here), not opened from disk.

    \b
    Example:
      kbatch docs --port 8000
      kbatch docs --build-only -o /tmp/kbatch-site
    """
    site_dir = (output or CONFIG.parent / "site").resolve()
    build_site(CONFIG, site_dir)
    click.echo(f"built {site_dir / 'index.html'}")
    if not build_only:
        serve(site_dir, port)

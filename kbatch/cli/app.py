"""The ``kbatch`` command: a thin click shell over the library.

Commands parse options, call the library and render (:mod:`kbatch.cli.render`). Every
:class:`~kbatch.errors.KbatchError` a command raises is handled in one place,
:meth:`Kbatch.invoke`: printed as ``Kind: message`` (every issue, for a manifest) and turned into
its :class:`~kbatch.errors.ExitCode`: 0 for success, 1 when some jobs failed, 2 for invalid input,
3 when another run holds the state, 4 when only failures of earlier runs remain, 130 when
interrupted. Anything else is a bug and shows its
traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kbatch.errors import ExitCode, KbatchError, ManifestError
from kbatch.version import __version__


class Kbatch(click.Group):
    """The command group, with the one KbatchError handler."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbatchError as exc:
            report_error(exc)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # before a run's own handler was in place: nothing was sent
            sys.exit(ExitCode.INTERRUPTED)


def report_error(exc: KbatchError) -> None:
    """Print a KbatchError as ``Title: message``, its kind in words (every issue, for a
    manifest)."""
    if isinstance(exc, ManifestError):
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        count = len(exc.issues)
        click.echo(f"{exc.title}: {count} problem{'s' if count != 1 else ''}", err=True)
    else:
        click.echo(f"{exc.title}: {exc}", err=True)


@click.group(cls=Kbatch, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kbatch")
def cli() -> None:
    """Run Kling jobs in bulk from a YAML manifest.

    \b
    Example:
      kbatch validate manifests/demo.yaml
    """


def main() -> None:
    """The ``kbatch`` entry point (the commands register on import of :mod:`kbatch.cli`)."""
    cli(prog_name="kbatch")


__all__ = ["cli", "main", "report_error"]

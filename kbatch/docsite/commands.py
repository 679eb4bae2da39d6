"""The commands' reference, from the click app itself: each command's help and options.

>>> "## `kbatch run`" in commands_page()
True
"""

from __future__ import annotations

import inspect

import click

from kbatch.cli import cli


def _option_rows(command: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record is None:
            continue
        names, text = record
        text = " ".join(text.replace("|", "\\|").split())
        rows.append(f"| `{names}` | {text} |")
    return rows


def command_section(name: str, command: click.Command) -> str:
    """A command's usage, help text and options, as Markdown."""
    ctx = click.Context(command, info_name=f"kbatch {name}")
    usage = " ".join(command.collect_usage_pieces(ctx))
    text = inspect.cleandoc((command.help or "").replace("\b\n", ""))
    lines = [f"## `kbatch {name}`", "", "```text", f"kbatch {name} {usage}".rstrip(), ""]
    lines += [text, "```", ""]
    rows = _option_rows(command, ctx)
    if rows:
        lines += ["| option | meaning |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def commands_page() -> str:
    """Every command of ``kbatch``, in the order ``kbatch --help`` lists them."""
    ctx = click.Context(cli, info_name="kbatch")
    names = cli.list_commands(ctx)
    return "\n".join(
        command_section(name, command)
        for name in names
        if (command := cli.get_command(ctx, name)) is not None
    )

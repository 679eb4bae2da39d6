"""What the docs show, read back for checking: fenced blocks (YAML manifests, shell lines) and
every ``kbatch ...`` command written in a page or the README."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import yaml
from click.testing import CliRunner

from kbatch.cli import cli

#: The line before a fenced YAML block that is part of a manifest, not a whole one.
FRAGMENT = "<!-- fragment"
_FENCE = re.compile(r"^```(\w*)")
_INLINE = re.compile(r"`(kbatch [^`]+)`")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the first line inside the fence
    lang: str
    text: str
    fragment: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        opened = _FENCE.match(lines[index])
        if not opened:
            index += 1
            continue
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        text = "\n".join(lines[index + 1 : end]) + "\n"
        yield Block(path, index + 2, opened.group(1), text, before.startswith(FRAGMENT))
        index = end + 1


def pages(root: Path) -> list[Path]:
    """The README and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def manifest_problems(files: list[Path], manifests: Path, scratch: Path) -> list[str]:
    """Each YAML block that is not marked a fragment, run through ``kbatch validate`` beside the
    repository's example manifests (so ``images/cat.png`` and ``shots.csv`` resolve): valid, with
    no warning (an example teaches no legacy model); each fragment parsed as YAML. One message
    per block that fails."""
    folder = scratch / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    for entry in manifests.iterdir():
        if entry.name != "out" and not (folder / entry.name).exists():
            copy = shutil.copytree if entry.is_dir() else shutil.copyfile
            copy(entry, folder / entry.name)
    problems = []
    for number, block in enumerate(b for f in files for b in blocks(f) if b.lang == "yaml"):
        try:
            yaml.safe_load(block.text)
        except yaml.YAMLError as exc:
            problems.append(f"{block.where()}: not YAML: {exc}")
            continue
        if block.fragment:
            continue
        example = folder / f"docs-example-{number}.yaml"
        example.write_text(block.text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["validate", str(example)])
        if result.exit_code != 0 or "warning:" in result.output:
            problems.append(f"{block.where()}: kbatch validate says:\n{result.output}")
    return problems


def commands(files: list[Path]) -> Iterator[tuple[str, str]]:
    """``(where, command line)`` of every ``kbatch ...`` in shell blocks and inline code."""
    for path in files:
        for block in blocks(path):
            if block.lang not in ("sh", "bash", "console", "text", ""):
                continue
            for offset, line in enumerate(block.text.split("\n")):
                for found in re.finditer(r"(?:^|[\s|;&(])(kbatch [^#|;&)\n]*)", line):
                    yield f"{path}:{block.line + offset}", found.group(1)
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            for found in _INLINE.finditer(line):
                yield f"{path}:{number}", re.split(r" \\?\| ", found.group(1))[0]


def _options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


def command_problems(files: list[Path]) -> list[str]:
    """Every ``kbatch NAME --option`` shown: NAME is a command, each option one of its own."""
    problems = []
    for where, line in commands(files):
        try:
            words = shlex.split(line.replace("\\|", "|"))
        except ValueError:
            words = line.split()
        if len(words) < 2:
            continue  # kbatch alone (a shell's completion line)
        name = words[1].rstrip(",.;:")  # prose: "the next kbatch run, with ..."
        command = cli.commands.get(name)
        if command is None:
            if not name.startswith("-"):
                problems.append(f"{where}: `{line}`: kbatch has no command {name!r}")
            continue
        known = _options(command)
        for word in words[2:]:
            option = word.strip("[]").split("=")[0]
            if option.startswith("-") and option not in known:
                problems.append(f"{where}: `{line}`: kbatch {name} has no option {option}")
    return problems

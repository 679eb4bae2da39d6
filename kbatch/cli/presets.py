"""``kbatch presets voices|elements MANIFEST``: Kling's preset voices and elements, to pick a
``voice_id`` or an ``element_id`` from (:mod:`kbatch.provider.presets`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from kbatch.cli import documents
from kbatch.cli.app import cli
from kbatch.cli.inspect import format_option
from kbatch.manifest import read_settings
from kbatch.provider.config import ProviderConfig
from kbatch.provider.connect import connect
from kbatch.provider.presets import Preset, PresetKind, presets


async def _ask(config: ProviderConfig, kind: PresetKind) -> list[Preset]:
    async with connect(config) as client:
        return await presets(client, kind)


@cli.command("presets")
@click.argument("what", type=click.Choice([kind.value for kind in PresetKind]))
@click.argument("manifest", type=click.Path(path_type=Path))
@format_option
def presets_command(what: str, manifest: Path, fmt: str) -> None:
    """List the provider's preset voices or elements: id, name and trial file (a voice's
    sample), to name in voice_id, voice_list, element_voice_id or element_list. Asks GET
    /v1/general/presets-voices or /v1/general/advanced-presets-elements of the manifest's
    provider (Kling and the simulator serve them), with its credentials.

    \b
    Example:
      kbatch presets voices manifests/demo.yaml
      kbatch presets elements manifests/demo.yaml --format json
    """
    settings = read_settings(manifest)
    kind = PresetKind(what)
    found = asyncio.run(_ask(settings.provider, kind))
    if fmt == "json":
        items = [preset.document() for preset in found]
        click.echo(documents.dump({"manifest": str(manifest), "presets": what, "items": items}))
        return
    provider = settings.provider.name.value
    click.echo(f"{manifest}: {len(found)} preset {what} of provider {provider}")
    for preset in found:
        said = [preset.name or "(no name)"]
        said += [preset.language] if preset.language else []
        said += [preset.description] if preset.description else []
        said += [f"trial: {preset.trial_url}"] if preset.trial_url else []
        click.echo(f"  {preset.id}  " + ", ".join(said))


__all__ = ["presets_command"]

"""``kbatch export``: a manifest's downloaded results as a Hugging Face image or video folder."""

from __future__ import annotations

from pathlib import Path

import click

from kbatch.cli.app import cli
from kbatch.cli.inspect import state_option
from kbatch.reports.export import FORMATS, export
from kbatch.words import plural


@cli.command("export")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    default="hf",
    show_default=True,
    help="hf: metadata.jsonl; parquet: metadata.parquet (needs pyarrow: kbatch[parquet]).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write: new, empty, or an earlier export (which it brings up to date).",
)
@state_option
def export_command(manifest: Path, fmt: str, output: Path, state_file: str | None) -> None:
    """Write the downloaded results as a dataset: images/ and videos/ folders, each with its
    files and a metadata file of one row per file (file_name, id, index, kind, units and what
    the provider charged: charged, charged_units, charged_amount, charged_currency; the
    prompt and request fields, the foreach row's columns and matrix values).

    Files are hard-linked from the output folder where possible. Exporting again into the
    same folder gives the same folder. Safe while a run is going (it exports what is
    downloaded so far).

    \b
    Example:
      kbatch export manifests/demo.yaml -o datasets/demo
      python -c 'import datasets; print(datasets.load_dataset("imagefolder",
                 data_dir="datasets/demo/images"))'
    """
    done, warnings = export(manifest, fmt, output, state_path=state_file)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if done.missing:
        first = ", ".join(done.missing[:3])
        click.echo(
            f"warning: {len(done.missing)} recorded result files are not on disk and were "
            f"left out ({first}{', ...' if len(done.missing) > 3 else ''})",
            err=True,
        )
    if not done.rows:
        click.echo(f"{output}: nothing downloaded yet to export (kbatch status shows why)")
        return
    parts = [f"{output / name}: {plural(count, 'file')}" for name, count in done.rows.items()]
    click.echo("\n".join(parts))
    click.echo(f"{done.linked} linked, {done.copied} copied ({FORMATS[fmt]} in each folder)")
    click.echo("to load it: pip install datasets (Hugging Face), then in Python:")
    click.echo("  import datasets")
    for name in done.rows:
        if name not in LOADERS:  # slice records: elements/, voices/: rows of ids, as JSON lines
            rows = str(output / name / "metadata.jsonl")
            click.echo(f"  datasets.load_dataset('json', data_files={rows!r})")
            continue
        loader = LOADERS[name]
        click.echo(f"  datasets.load_dataset({loader!r}, data_dir={str(output / name)!r})")


#: The dataset loader of each export folder (Hugging Face ``datasets``).
LOADERS = {"images": "imagefolder", "videos": "videofolder", "audios": "audiofolder"}

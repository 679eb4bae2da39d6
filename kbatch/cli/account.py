"""``kbatch account``: what is left on the provider's account, pack by pack (one
``GET /account/costs``; :mod:`kbatch.provider.account`)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import click

from kbatch.cli import documents
from kbatch.cli.app import cli
from kbatch.cli.inspect import format_option
from kbatch.manifest import read_settings
from kbatch.pricing import show_units
from kbatch.provider.account import AccountCosts, ask_costs


def _day(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d", time.gmtime(seconds))


def _units(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def costs_document(costs: AccountCosts) -> dict[str, Any]:
    return {
        "asked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(costs.asked_at)),
        "lag_hours": costs.lag_seconds / 3600,
        "remaining": {pack.value: units for pack, units in sorted(costs.remaining().items())},
        "packs": [
            {
                "name": pack.name,
                "id": pack.pack_id,
                "pack_type": None if pack.pack_type is None else pack.pack_type.value,
                "total": pack.total,
                "remaining": pack.remaining,
                "status": pack.status,
                "effective": _day(pack.effective_at),
                "expires": _day(pack.expires_at),
            }
            for pack in costs.packs
        ],
    }


@cli.command("account")
@click.argument("manifest", type=click.Path(path_type=Path))
@format_option
def account_command(manifest: Path, fmt: str) -> None:
    """Show what is left on the provider's account: each resource pack's remaining units,
    status and expiry. Asks Kling's GET /account/costs once (Kling and the simulator serve it;
    it takes the API key, KLING_API_KEY or provider.api_key_env). Kling's figures may be up to
    12 hours old.

    \b
    Example:
      kbatch account manifests/demo.yaml
    """
    settings = read_settings(manifest)
    costs = asyncio.run(ask_costs(settings.provider, os.environ))
    if fmt == "json":
        click.echo(documents.dump({"manifest": str(manifest), **costs_document(costs)}))
        return
    provider = settings.provider.name.value
    click.echo(f"{manifest}: the account of provider {provider}, {costs.note}")
    for pack in costs.packs:
        kind = f" ({pack.pack_type.value})" if pack.pack_type is not None else ""
        click.echo(
            f"  {pack.name}{kind}: {_units(pack.remaining)} of {_units(pack.total)} units left, "
            f"{pack.status or 'status not given'}, expires {_day(pack.expires_at)}"
        )
    if not costs.packs:
        click.echo("  no resource packs")
    click.echo(f"left in packs in effect: {show_units(costs.remaining())}")


__all__ = ["account_command", "costs_document"]

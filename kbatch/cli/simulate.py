"""``kbatch simulator``: the built-in Kling simulator as a standalone server."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import click

from kbatch.cli.app import cli
from kbatch.provider.catalogue import JobKind
from kbatch.simulator import Fault, FaultPlan, SimulatorConfig, running


def _fault_rate(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    rates: dict[Fault, float] = {}
    names = ", ".join(fault.value for fault in Fault)
    for value in values:
        name, _, rate = value.partition("=")
        try:
            fault, share = Fault(name.strip()), float(rate) if rate else 1.0
        except ValueError:
            raise click.BadParameter(f"{value!r}: write NAME=RATE, NAME one of {names}") from None
        if not 0 <= share <= 1:
            raise click.BadParameter(f"{value!r}: a rate is a share of requests, from 0 to 1")
        rates[fault] = share
    if sum(rates.values()) > 1 + 1e-9:
        total = sum(rates.values())
        raise click.BadParameter(f"the rates add up to {total:g}: together they can be at most 1")
    return rates


SHAPES = ("fixed", "uniform", "lognormal")


def _durations(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, float]:
    shape, _, spread = value.partition(":")
    if shape not in SHAPES:
        raise click.BadParameter(f"{value!r}: give fixed, uniform:SPREAD or lognormal:SIGMA")
    try:
        width = float(spread) if spread else (0.0 if shape == "fixed" else 0.3)
    except ValueError:
        raise click.BadParameter(f"{value!r}: the spread after ':' is a number") from None
    if not 0 <= width < (1 if shape == "uniform" else 3):
        raise click.BadParameter(f"{value!r}: the spread is 0 to under 1 (uniform), 3 (lognormal)")
    return shape, width


def _secrets(auth: str, sign_callbacks: bool) -> tuple[dict[str, str], str | None]:
    """The keys ``--auth`` asks for and the webhook secret, from the environment only."""
    names = {"key": ("KLING_API_KEY",), "jwt": ("KLING_ACCESS_KEY", "KLING_SECRET_KEY")}
    for name in names.get(auth, ()):
        if not os.environ.get(name):
            raise click.UsageError(f"--auth {auth} needs {name} set in the environment")
    keys = {name: os.environ[name] for name in names.get(auth, ())}
    secret = os.environ.get("KLING_WEBHOOK_SECRET", "") if sign_callbacks else None
    if secret is not None and not secret.startswith("whsec_"):
        raise click.UsageError("--sign-callbacks needs KLING_WEBHOOK_SECRET=whsec_... set")
    return keys, secret


@cli.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--task-seconds",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0),
    help="How long a task takes from submitted to succeed.",
)
@click.option(
    "--durations",
    default="fixed",
    show_default=True,
    callback=_durations,
    help="How task durations spread around --task-seconds: fixed, uniform:0.3 (plus or "
    "minus 30%) or lognormal:0.4 (sigma of the log).",
)
@click.option(
    "--callback-duplicates",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of callbacks sent twice, as gateways do.",
)
@click.option(
    "--parallel-limit",
    default=20,
    show_default=True,
    type=click.IntRange(1),
    help="Parallel-task slots per pack type; over it, creates get code 1303.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of tasks that end 'failed'.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_fault_rate,
    metavar="NAME=RATE",
    help="Inject a fault into this share (0 to 1) of requests (repeatable), e.g. "
    "rate_limit=0.1. NAME: " + ", ".join(fault.value for fault in Fault) + ".",
)
@click.option("--seed", type=int, default=None, help="Seed for the random faults and failures.")
@click.option(
    "--videos/--no-videos",
    default=True,
    show_default=True,
    help="Encode a real MP4 per video task (needs PyAV); --no-videos serves a bundled clip.",
)
@click.option(
    "--not-served",
    multiple=True,
    type=click.Choice([k.value for k in JobKind]),
    help="Answer this kind's create route with a 404 page, as a gateway that lacks it.",
)
@click.option(
    "--auth",
    type=click.Choice(["any", "key", "jwt"]),
    default="any",
    show_default=True,
    help="any: accept any Bearer token; key: only $KLING_API_KEY; "
    "jwt: only JWTs signed with $KLING_ACCESS_KEY/$KLING_SECRET_KEY.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse what Kling lets pass (unknown fields, empty optional strings, ...), to test "
    "clients; by default the simulator accepts what Kling accepts.",
)
@click.option(
    "--sign-callbacks",
    is_flag=True,
    help="Sign every callback (Standard Webhooks) with the whsec_ secret in $KLING_WEBHOOK_SECRET.",
)
def simulator_command(
    host: str,
    port: int,
    task_seconds: float,
    durations: tuple[str, float],
    callback_duplicates: float,
    parallel_limit: int,
    fail_rate: float,
    faults: Any,
    seed: int | None,
    videos: bool,
    not_served: tuple[str, ...],
    auth: str,
    strict: bool,
    sign_callbacks: bool,
) -> None:
    """Run the built-in Kling simulator as a server, until Ctrl-C.

    It serves the create, get and list routes under /v1 and /kling/v1 (and the legacy
    images/generations), Kling's path-addressed API at the root (/text-to-video/{model}, ...,
    /tasks, /account/costs), checks every field as Kling does (--strict: stricter), and serves
    real result images and videos. Point a manifest at it with provider.base_url.

    \b
    Example:
      kbatch simulator --port 8000 --fault rate_limit=0.05 --fault reset_after=0.02
      kbatch simulator --task-seconds 120 --durations lognormal:0.4 --parallel-limit 5
    """
    keys, secret = _secrets(auth, sign_callbacks)
    plan = FaultPlan(rates=faults, seed=seed, not_served={JobKind(k) for k in not_served})
    config = SimulatorConfig(
        task_seconds=task_seconds,
        duration_shape=durations[0],
        duration_spread=durations[1],
        callback_duplicates=callback_duplicates,
        parallel_limit=parallel_limit,
        fail_rate=fail_rate,
        faults=plan,
        seed=seed,
        videos=videos,
        api_key=keys.get("KLING_API_KEY"),
        access_key=keys.get("KLING_ACCESS_KEY"),
        secret_key=keys.get("KLING_SECRET_KEY"),
        strict=strict,
        webhook_secret=secret,
    )

    async def serve() -> None:
        async with running(config, host=host, port=port) as sim:
            click.echo(
                f"Kling simulator on {sim.url} (routes under /v1, /kling/v1 and the new API "
                "at the root); Ctrl-C stops"
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        click.echo("stopped")


__all__ = ["simulator_command"]

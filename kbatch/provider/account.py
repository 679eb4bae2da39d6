"""What is left on the account: ``GET /account/costs`` on Kling's new API root, each resource
pack's remaining units, status and expiry.

::

    costs = await ask_costs(manifest.provider, os.environ)   # ConfigError if it cannot be asked
    costs.remaining()                                          # {PackType.VIDEO: 118.0, ...}

Kling serves it to a Bearer API key only (a JWT of an access/secret pair is refused), at most one
request a second, and its remaining figures lag up to 12 hours behind the tasks that spent them
(``kling-assets-account-usage.md``): a figure shown here may not count the last hours' tasks.
Only Kling and the simulator serve it; gateways do not. The HTTP is :mod:`exchange`'s, as the
rest of the new API's, so a message never shows the key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from kbatch.errors import ConfigError
from kbatch.provider import exchange
from kbatch.provider.auth import NEW_API_PROVIDERS, Auth, api_key
from kbatch.provider.catalogue import PackType, ProviderName
from kbatch.provider.config import ProviderConfig
from kbatch.provider.transport import Timeouts, api_error

#: How old the remaining figures may be (the vendor's page: "a 12h delay").
LAG_SECONDS = 12 * 3600.0
#: The window asked for: packs of the last year (start_time and end_time are required).
WINDOW_SECONDS = 366 * 86400.0
ROUTE = "/account/costs"


@dataclass(frozen=True, slots=True)
class Pack:
    """One resource pack as the provider reports it. ``pack_type`` is read from its name
    ("Video Generation - ...": video); None when the name names no pack type. Times are Unix
    seconds; ``status`` is the vendor's: toBeOnline, online, expired, runOut."""

    name: str
    pack_id: str
    pack_type: PackType | None
    total: float | None
    remaining: float | None
    status: str
    effective_at: float | None
    expires_at: float | None

    @property
    def usable(self) -> bool:
        return self.status == "online"


@dataclass(frozen=True, slots=True)
class AccountCosts:
    """The packs, when they were asked for, and how old their figures may be."""

    packs: tuple[Pack, ...]
    asked_at: float
    lag_seconds: float = LAG_SECONDS

    @property
    def note(self) -> str:
        """How old the figures may be, in words."""
        return (
            f"remaining units as the provider counted them, up to {self.lag_seconds / 3600:g} "
            "hours ago: tasks since may not be counted yet"
        )

    def remaining(self) -> dict[PackType, float]:
        """Units left in the packs in effect, per pack type (as of up to ``lag_seconds`` ago)."""
        out: dict[PackType, float] = {}
        for pack in self.packs:
            if pack.usable and pack.pack_type is not None and pack.remaining is not None:
                out[pack.pack_type] = round(out.get(pack.pack_type, 0.0) + pack.remaining, 6)
        return out


def parse_costs(data: Any, *, asked_at: float) -> AccountCosts:
    """The answer's ``data`` (``resource_pack_subscribe_infos[]``) as packs.

    >>> got = parse_costs({"resource_pack_subscribe_infos": [{"resource_pack_name":
    ...     "Video Generation - 10,000 entries", "resource_pack_id": "509f", "total_quantity":
    ...     200.0, "remaining_quantity": 118.0, "invalid_time": 1727366400000,
    ...     "status": "online"}]}, asked_at=0.0)
    >>> got.remaining(), got.packs[0].expires_at
    ({<PackType.VIDEO: 'video'>: 118.0}, 1727366400.0)
    """
    infos = data.get("resource_pack_subscribe_infos") if isinstance(data, Mapping) else None
    packs = []
    for info in infos if isinstance(infos, list) else ():
        if not isinstance(info, Mapping):
            continue
        name = str(info.get("resource_pack_name") or "")
        packs.append(
            Pack(
                name=name,
                pack_id=str(info.get("resource_pack_id") or ""),
                pack_type=next((p for p in PackType if p.value in name.lower()), None),
                total=_number(info.get("total_quantity")),
                remaining=_number(info.get("remaining_quantity")),
                status=str(info.get("status") or ""),
                effective_at=_seconds(info.get("effective_time")),
                expires_at=_seconds(info.get("invalid_time")),
            )
        )
    return AccountCosts(tuple(packs), asked_at)


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> float | None:
    ms = _number(value)
    return None if ms is None else ms / 1000


def costs_auth(config: ProviderConfig, env: Mapping[str, str]) -> tuple[str, Auth]:
    """Where to ask and with which key: ConfigError saying why it cannot be asked (a provider
    that does not serve it, no API key, the built-in simulator that keeps no account)."""
    if config.name not in NEW_API_PROVIDERS:
        raise ConfigError(
            f"{config.name.value} does not serve {ROUTE} (what is left on the account): only "
            "provider: kling (and the simulator) do"
        )
    root = config.base_url or config.spec.base_url
    if config.name is ProviderName.SIMULATOR and not config.base_url:
        raise ConfigError(
            "the built-in simulator keeps no account between runs: start `kbatch simulator` "
            "and set provider.base_url to ask it what is left"
        )
    key = api_key(config.spec, env, config.api_key_env)
    if key is None or not root:
        name = config.api_key_env or config.spec.key_env
        raise ConfigError(f"{ROUTE} takes an API key only: set {name} in the environment")
    return root.rstrip("/"), key


async def ask_costs(
    config: ProviderConfig,
    env: Mapping[str, str],
    *,
    timeouts: Timeouts = Timeouts(),
    now: float | None = None,
) -> AccountCosts:
    """One ``GET /account/costs`` for the last year's packs (one request: the route allows
    one a second). ConfigError when it cannot be asked; an ApiError when it is refused."""
    root, auth = costs_auth(config, env)
    asked = time.time() if now is None else now
    window = {"start_time": int((asked - WINDOW_SECONDS) * 1000), "end_time": int(asked * 1000)}
    url = f"{root}{ROUTE}?{urlencode(window)}"
    scrub = exchange.scrubber(auth)
    what = f"GET {ROUTE}"
    async with exchange.open_session(timeouts) as session:
        reply, headers = await exchange.send(
            session, "GET", url, what, None, auth=auth, scrub=scrub, creating=False
        )
    if not reply.ok:
        raise api_error(reply, headers, what, creating=False, served_at=root, scrub=scrub)
    return parse_costs(reply.data, asked_at=asked)


__all__ = [
    "LAG_SECONDS",
    "AccountCosts",
    "Pack",
    "ask_costs",
    "costs_auth",
    "parse_costs",
]

"""What the units spent are made of, as ``kbatch run``'s summary, ``kbatch status`` and their
JSON documents say it: per pack, the units the provider reported it charged and those kbatch
estimated because it reported no charge (the budget counts both); cash charged per currency.

    >>> from kbatch.provider.catalogue import PackType
    >>> lines({PackType.VIDEO: 2.0}, {PackType.VIDEO: 3.0}, {"USD": 0.5})
    ['of them charged: video 2 (as the provider reported)', 'of them estimated: video 3 (the \
provider reported no charge)', 'cash charged: 0.5 USD']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kbatch.pricing import Units, by_pack, show_units
from kbatch.store import JobRow

Cash = Mapping[str, float]


def of_rows(rows: Iterable[JobRow]) -> tuple[Units, Units, dict[str, float]]:
    """Per pack the units charged (reported) and estimated; per currency the cash, of rows."""
    rows = list(rows)
    charged = by_pack((row.kind, row.charged_units or 0.0) for row in rows)
    estimated = by_pack((row.kind, row.estimated_units) for row in rows if row.estimated_units)
    cash: dict[str, float] = {}
    for row in rows:
        if row.charged_amount is not None:
            currency = row.charged_currency or ""
            cash[currency] = round(cash.get(currency, 0.0) + row.charged_amount, 9)
    return charged, estimated, cash


def lines(charged: Units, estimated: Units, cash: Cash) -> list[str]:
    """The units spent, parted: what was charged as reported, what is estimated, the cash
    (nothing when nothing was spent)."""
    if not any(charged.values()) and not any(estimated.values()) and not cash:
        return []
    out = []
    if any(charged.values()) or not any(estimated.values()):
        out.append(f"of them charged: {show_units(charged)} (as the provider reported)")
    if any(estimated.values()):
        out.append(f"of them estimated: {show_units(estimated)} (the provider reported no charge)")
    if cash:
        amounts = (
            f"{amount:g} {currency or '(currency not given)'}" for currency, amount in cash.items()
        )
        out.append(f"cash charged: {', '.join(amounts)}")
    return out


def document(charged: Units, estimated: Units, cash: Cash) -> dict[str, Any]:
    """The same as JSON fields."""
    return {
        "charged_units": {pack.value: units for pack, units in sorted(charged.items())},
        "estimated_units": {pack.value: units for pack, units in sorted(estimated.items())},
        "charged_cash": dict(sorted(cash.items())),
    }


__all__ = ["document", "lines", "of_rows"]

"""The one set of totals of what a state spent: every surface (the end-of-run summary,
``kbatch status`` and its JSON, ``report.json``, the HTML gallery, ``kbatch export``) shows
these figures, computed here and nowhere else.

Two totals, each labelled where it shows:

- **the manifest's current jobs** (:attr:`Totals.current`): the jobs the manifest has now,
  every attempt of each (earlier versions of an edited job included: they were paid);
- **everything this state ever paid** (:attr:`Totals.paid`): the same, plus the jobs removed
  from the manifest since (kept in the state, marked removed).

Each is kept per pack for units (image units and video units are different currencies:
never one sum) and per currency for cash (never USD with CNY, nor ``test_balance`` with
``balance``). Units are what the budget counts: the provider's charge where it reported one,
else kbatch's estimate; ``charged`` and ``estimated`` part them.

    >>> from kbatch.provider.catalogue import JobKind
    >>> from kbatch.store import JobRow
    >>> done = JobRow("a", JobKind.TEXT2IMAGE, "f", units=8.0, charged_units=8.0)
    >>> gone = JobRow("b", JobKind.TEXT2IMAGE, "f", units=0.5, charged_units=0.5, removed=True)
    >>> totals = of_rows([done, gone])
    >>> totals.current.units, totals.paid.units
    ({'image': 8.0}, {'image': 8.5})
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kbatch.provider.catalogue import PACK
from kbatch.store import JobRow, StateStore

#: The labels every surface gives the two totals.
CURRENT = "the manifest's current jobs"
PAID = "everything this state ever paid"


def _add(totals: dict[str, float], key: str, amount: float | None) -> None:
    if amount:
        totals[key] = round(totals.get(key, 0.0) + amount, 9)


def cash_of(
    row: JobRow, by_job: Mapping[str, Mapping[str, float]] | None = None
) -> Iterator[tuple[str, float]]:
    """The cash a job was charged, as (currency, amount) pairs: the one place that reads a
    job's cash. ``by_job`` (the store's :meth:`cash_by_job`, from every attempt) keeps each
    currency of a job that paid in several; without it the job row's one figure is read. A
    ``test_balance`` is its own currency, never added to cash."""
    if by_job is not None:
        yield from by_job.get(row.id, {}).items()
        return
    amount = row.charged_amount
    if amount is None:
        return
    currency = row.charged_currency or "(currency not given)"
    cash_type = getattr(row, "charged_cash_type", None)
    if cash_type and cash_type != "balance":
        currency = f"{currency} {cash_type}"
    yield currency, amount


@dataclass(frozen=True, slots=True)
class Spend:
    """What a set of jobs cost: units per pack as the budget counts them, parted into what
    the provider reported it charged and what kbatch estimated; cash per currency."""

    jobs: int = 0
    units: dict[str, float] = field(default_factory=dict)
    charged: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)
    cash: dict[str, float] = field(default_factory=dict)

    def adding(self, row: JobRow, by_job: Mapping[str, Mapping[str, float]] | None = None) -> Spend:
        pack = PACK[row.kind].value
        units, charged = dict(self.units), dict(self.charged)
        estimated, cash = dict(self.estimated), dict(self.cash)
        _add(units, pack, row.units)
        _add(charged, pack, row.charged_units)
        _add(estimated, pack, row.estimated_units)
        for currency, amount in cash_of(row, by_job):
            _add(cash, currency, amount)
        return Spend(self.jobs + 1, units, charged, estimated, cash)

    def record(self) -> dict[str, Any]:
        """As JSON: the same names in every document."""
        return {
            "jobs": self.jobs,
            "units": dict(sorted(self.units.items())),
            "charged_units": dict(sorted(self.charged.items())),
            "estimated_units": dict(sorted(self.estimated.items())),
            "cash": dict(sorted(self.cash.items())),
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """The two totals (see the module's text)."""

    current: Spend = field(default_factory=Spend)
    paid: Spend = field(default_factory=Spend)

    @property
    def removed(self) -> Spend:
        """What the jobs removed from the manifest cost (``paid`` less ``current``)."""
        now, paid = self.current, self.paid
        units = {p: round(u - now.units.get(p, 0.0), 9) for p, u in paid.units.items()}
        cash = {c: round(a - now.cash.get(c, 0.0), 9) for c, a in paid.cash.items()}
        return Spend(
            self.paid.jobs - self.current.jobs,
            {p: u for p, u in units.items() if u > 1e-9},
            cash={c: a for c, a in cash.items() if a > 1e-9},
        )

    def record(self) -> dict[str, Any]:
        return {"current": self.current.record(), "paid": self.paid.record()}


def of_rows(
    rows: Iterable[JobRow], cash: Mapping[str, Mapping[str, float]] | None = None
) -> Totals:
    """The totals of a state's job rows (all of them: removed ones count in ``paid``); ``cash``
    is the state's cash per job and currency (``StateStore.cash_by_job``), where it was read."""
    current = paid = Spend()
    for row in rows:
        paid = paid.adding(row, cash)
        if not row.removed:
            current = current.adding(row, cash)
    return Totals(current, paid)


def of_state(state: StateStore) -> Totals:
    """The totals of everything a state holds: its rows, and the cash of every attempt."""
    return of_rows(state.load().values(), state.cash_by_job())


def show(amounts: dict[str, float]) -> str:
    """Units per pack, or cash per currency, in words: ``image 13, video 2`` (``0``: none)."""
    shown = (f"{key} {amount:g}" for key, amount in sorted(amounts.items()) if amount)
    return ", ".join(shown) or "0"


def show_cash(cash: dict[str, float]) -> str:
    return ", ".join(f"{amount:g} {currency}" for currency, amount in sorted(cash.items()))


def lines(totals: Totals) -> list[str]:
    """The totals in words, as the summary and ``kbatch status`` print them: first the
    manifest's current jobs, then, when it differs, everything this state ever paid."""
    spend = totals.current
    out = [f"units spent by {CURRENT}: {show(spend.units)}"]
    if spend.charged:
        out.append(f"  of them charged: {show(spend.charged)} (as the provider reported)")
    if spend.estimated:
        guessed = show(spend.estimated)
        out.append(f"  of them estimated: {guessed} (the provider reported no charge)")
    if spend.cash:
        out.append(f"  cash charged: {show_cash(spend.cash)}")
    removed = totals.removed
    if removed.units or removed.cash:
        paid = totals.paid
        cash = f"; cash {show_cash(paid.cash)}" if paid.cash else ""
        jobs = f"{removed.jobs} job{'' if removed.jobs == 1 else 's'}"
        out.append(
            f"{PAID}: {show(paid.units)}{cash} "
            f"({show(removed.units) if removed.units else 'cash'} of it by {jobs} "
            "removed from the manifest)"
        )
    return out


__all__ = [
    "CURRENT",
    "PAID",
    "Spend",
    "Totals",
    "cash_of",
    "lines",
    "of_rows",
    "of_state",
    "show",
    "show_cash",
]

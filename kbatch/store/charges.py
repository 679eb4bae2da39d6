"""What an attempt cost, as the state keeps it: where its units come from (the provider's
charge or kbatch's estimate), the charge as reported, and cash kept apart per currency and
balance. :mod:`kbatch.store.records` builds its rows on these."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Charged(enum.StrEnum):
    """Where the units counted for an attempt come from (``AttemptRow.charged``): the charge
    the provider reported, or kbatch's estimate when it reported none; a job whose attempts
    mix both is ``PARTLY`` estimated (``JobRow.charged``).

    >>> Charged.REPORTED.joined(None), Charged.REPORTED.joined(Charged.ESTIMATED)
    (<Charged.REPORTED: 'reported'>, <Charged.PARTLY: 'partly'>)
    """

    REPORTED = "reported"
    ESTIMATED = "estimated"
    PARTLY = "partly"

    def joined(self, before: Charged | None) -> Charged:
        """What a job's attempts are, once this one is added to those ``before``."""
        return self if before is None or before is self else Charged.PARTLY


@dataclass(frozen=True, slots=True)
class Cost:
    """What one attempt cost. ``units`` is what the budget counts: the units the provider
    charged when it reported a charge, else the attempt's estimate (``charged`` says which).
    The rest is the report as the provider gave it: units of a ``pack``, cash of a ``currency``
    (None where it said nothing)."""

    units: float
    charged: Charged = Charged.REPORTED
    charged_units: float | None = None
    pack: str | None = None
    amount: float | None = None
    currency: str | None = None
    cash_type: str | None = None  # the balance the cash came from: balance, test_balance

    @classmethod
    def reported(cls, units: float) -> Cost:
        """A charge of ``units`` the provider reported (of no named pack, no cash)."""
        return cls(units, Charged.REPORTED, units)

    @classmethod
    def estimated(cls, estimate: float) -> Cost:
        """No charge reported: the estimate stands in for it."""
        return cls(estimate, Charged.ESTIMATED)


#: A job's ``charged_currency`` when it paid cash of several currencies or balances: no sum.
MIXED_CASH = "mixed"


def cash_key(currency: str | None, cash_type: str | None) -> str:
    """How cash is kept apart: by currency, and test quota apart from the real balance.

    >>> cash_key("USD", "balance"), cash_key("USD", "test_balance"), cash_key(None, None)
    ('USD', 'USD test_balance', '')
    """
    test = cash_type is not None and cash_type != "balance"
    return f"{currency or ''} {cash_type}".strip() if test else currency or ""


__all__ = ["MIXED_CASH", "Charged", "Cost", "cash_key"]

"""Which provider a manifest talks to, and its overrides of the catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from kbatch.provider import catalogue
from kbatch.provider.catalogue import JobKind, ProviderName


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Which service to talk to. Credentials are read from the environment, never stored here.

    ``prefix``, ``dialect`` and ``routes`` override the catalogue (the catalogue) for a
    gateway whose routes differ from what its documentation said.
    """

    name: ProviderName
    base_url: str | None = None
    api_key_env: str | None = None
    prefix: str | None = None
    dialect: catalogue.Dialect | None = None
    routes: Mapping[JobKind, str] = field(default_factory=dict)
    check_capabilities: bool = True

    @property
    def spec(self) -> catalogue.Provider:
        """The catalogue's provider, with this manifest's dialect."""
        spec = catalogue.PROVIDERS[self.name]
        spec = replace(spec, check_capabilities=self.check_capabilities)
        return replace(spec, dialect=self.dialect) if self.dialect else spec


__all__ = ["ProviderConfig"]

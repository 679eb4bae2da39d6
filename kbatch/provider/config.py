"""Which provider a manifest talks to, and its overrides of the catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from kbatch.errors import ConfigError
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


@dataclass(frozen=True, slots=True)
class Listen:
    """Where to receive callbacks: the local address, and the URL the provider reaches it by."""

    host: str
    port: int
    public_url: str

    @classmethod
    def parse(cls, address: str, public_url: str | None) -> Listen:
        """``HOST:PORT`` (``[::1]:PORT`` for IPv6) and the public URL; ConfigError if wrong."""
        host, sep, port = address.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--listen {address!r}: give HOST:PORT, e.g. 0.0.0.0:8099")
        if public_url is None:
            public_url = f"http://{address}"
        if not public_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"--public-url {public_url!r}: give the http(s) URL the provider reaches "
                "this machine by, e.g. https://hooks.example.com"
            )
        return cls(host, int(port), public_url.rstrip("/"))


__all__ = ["Listen", "ProviderConfig"]

"""Which provider a manifest talks to, and its overrides of the catalogue."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from kbatch.errors import ConfigError
from kbatch.provider import catalogue
from kbatch.provider.catalogue import JobKind, ProviderName

#: ``callbacks.secret_env`` when a manifest does not say.
DEFAULT_SECRET_ENV = "KLING_WEBHOOK_SECRET"


class Api(enum.StrEnum):
    """Which of Kling's APIs a job goes to. ``auto`` (the default): the ``/v1`` routes where its
    model is served there (a manifest that ran before sends exactly what it sent), the
    path-addressed API for a model that lives only there (kling-3.0-turbo). ``new``: the
    path-addressed API wherever it serves the model. ``legacy``: the ``/v1`` routes only; a job
    whose model they do not serve is refused before anything is sent."""

    AUTO = "auto"
    LEGACY = "legacy"
    NEW = "new"


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
    #: The account whose slots and rate a shared state divides among runners (a label only).
    account: str | None = None
    #: ``provider.api``: where a job whose model both APIs serve goes.
    api: Api = Api.AUTO

    @property
    def account_label(self) -> str:
        """The account's label: ``account``, else the provider's name."""
        return self.account or self.name.value

    @property
    def spec(self) -> catalogue.ProviderSpec:
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
    #: The name of the environment variable that holds the webhook secret (callbacks signed
    #: the Standard Webhooks way); the engine reads the variable, a manifest only names it.
    #: None: not said (``--listen`` without ``--webhook-secret-env``).
    secret_env: str | None = None

    @staticmethod
    def chosen(given: Listen | None, manifest: Listen | None) -> Listen | None:
        """Where a run listens: the command line's ``--listen`` over the manifest's
        ``callbacks:``, the secret's variable taken from the manifest unless the command line
        named one (else :data:`DEFAULT_SECRET_ENV`, which the engine reads for None).

        >>> cli = Listen("0.0.0.0", 9000, "https://hooks.example")
        >>> ours = Listen("127.0.0.1", 8099, "http://127.0.0.1:8099", "OUR_SECRET")
        >>> Listen.chosen(cli, ours).secret_env, Listen.chosen(cli, ours).port
        ('OUR_SECRET', 9000)
        >>> Listen.chosen(replace(cli, secret_env="MINE"), ours).secret_env
        'MINE'
        """
        if given is None:
            return manifest
        if given.secret_env is None and manifest is not None:
            return replace(given, secret_env=manifest.secret_env)
        return given

    @classmethod
    def parse(cls, address: str, public_url: str | None) -> Listen:
        """``HOST:PORT`` (``[::1]:PORT`` for IPv6) and the public URL (default
        ``http://HOST:PORT``); ConfigError, naming the command-line option, if wrong."""
        url = public_url if public_url is not None else f"http://{address}"
        found = cls.problem(address, url)
        if found is not None:
            name, reason = found
            value = address if name == "listen" else url
            raise ConfigError(f"--{name.replace('_', '-')} {value!r}: {reason}")
        host, _, port = address.rpartition(":")
        return cls(host.strip("[]"), int(port), url.rstrip("/"))

    @staticmethod
    def problem(address: str, public_url: str) -> tuple[str, str] | None:
        """What is wrong, if anything: the field (``listen`` or ``public_url``) and why."""
        host, sep, port = address.rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            return "listen", "give HOST:PORT, e.g. 0.0.0.0:8099"
        if not public_url.startswith(("http://", "https://")):
            return "public_url", (
                "give the http(s) URL the provider reaches this machine by, "
                "e.g. https://hooks.example.com"
            )
        return None


__all__ = ["DEFAULT_SECRET_ENV", "Api", "Listen", "ProviderConfig"]

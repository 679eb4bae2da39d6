"""Credentials: how a request is signed, and which strings must never be shown.

::

    auth = credentials(PROVIDERS[ProviderName.KLING], os.environ)   # ConfigError if none is set
    headers = {"Authorization": auth.header()}                      # a JWT, signed afresh in time

Keys come from the environment only (ARCHITECTURE.md); :meth:`Auth.secrets` lists what a
message must be scrubbed of before it is shown.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from kbatch.errors import ConfigError
from kbatch.provider import models
from kbatch.provider.catalogue import JobKind, ProviderName, ProviderSpec
from kbatch.provider.config import ProviderConfig
from kbatch.provider.protocol import ModelPath, Target

#: A JWT lives this long (Kling's documented example) and is signed afresh this early.
JWT_TTL = 1800.0
JWT_RENEW_BEFORE = 300.0


class Auth(Protocol):
    """Makes the Authorization header; knows which strings must never be shown."""

    def header(self) -> str: ...

    def renew(self) -> bool:
        """Make a fresh credential after 1003/1004; False if there is nothing to renew."""
        ...

    def secrets(self) -> tuple[str, ...]: ...

    @property
    def source(self) -> str:
        """Where the credential came from, for a message about a refused one: the environment
        variables' names, never their values."""
        ...


@dataclass(slots=True)
class BearerKey:
    """A static key sent as ``Bearer <key>`` (CometAPI, AnyAPI, Kling's newer API keys)."""

    key: str = field(repr=False)
    variable: str = "the API key"

    @property
    def source(self) -> str:
        return self.variable

    def header(self) -> str:
        return f"Bearer {self.key}"

    def renew(self) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self.key,)


@dataclass(slots=True)
class KlingJwt:
    """Kling's access-key/secret-key pair: an HS256 JWT with ``iss``, ``exp`` (now+1800 s) and
    ``nbf`` (now-5 s), signed afresh when less than five minutes remain or when asked."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    clock: Callable[[], float] = time.time
    _token: str = field(default="", repr=False)
    _expires: float = 0.0
    variables: tuple[str, str] = ("KLING_ACCESS_KEY", "KLING_SECRET_KEY")

    @property
    def source(self) -> str:
        return "/".join(self.variables)

    def header(self) -> str:
        if not self._token or self.clock() >= self._expires - JWT_RENEW_BEFORE:
            self._sign()
        return f"Bearer {self._token}"

    def renew(self) -> bool:
        self._sign()
        return True

    def _sign(self) -> None:
        now = int(self.clock())
        claims = {"iss": self.access_key, "exp": now + int(JWT_TTL), "nbf": now - 5}
        headers = {"alg": "HS256", "typ": "JWT"}
        with warnings.catch_warnings():  # the provider chose the key's length, not the user
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            token = jwt.encode(claims, self.secret_key, algorithm="HS256", headers=headers)
        self._token = token
        self._expires = now + JWT_TTL

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.access_key, self.secret_key, self._token) if s)


def credentials(provider: ProviderSpec, env: Mapping[str, str], key_env: str | None = None) -> Auth:
    """The provider's credentials from the environment; ConfigError naming the variables (never
    their values) when they are not set."""
    if key_env:
        if env.get(key_env):
            return BearerKey(env[key_env], key_env)
        raise ConfigError(f"provider.api_key_env names {key_env}, which is not set or empty")
    if provider.jwt_envs:
        access, secret = (env.get(name, "") for name in provider.jwt_envs)
        if access and secret:
            first, second = provider.jwt_envs
            return KlingJwt(access, secret, variables=(first, second))
    if provider.key_env and env.get(provider.key_env):
        return BearerKey(env[provider.key_env], provider.key_env)
    if provider.name is ProviderName.SIMULATOR:
        return BearerKey("kbatch-simulator", "the simulator's key")
    wanted = [" and ".join(provider.jwt_envs)] if provider.jwt_envs else []
    wanted += [provider.key_env] if provider.key_env else []
    raise ConfigError(
        f"no credentials for {provider.name}: set {' or '.join(wanted)} in the environment "
        "(or name your own variable with provider.api_key_env)"
    )


#: The providers that serve Kling's path-addressed API (the gateways speak the /v1 shape only).
NEW_API_PROVIDERS = frozenset({ProviderName.KLING, ProviderName.SIMULATOR})


def api_key(
    provider: ProviderSpec, env: Mapping[str, str], key_env: str | None = None
) -> Auth | None:
    """The Bearer key Kling's new API takes (``provider.api_key_env``, else ``KLING_API_KEY``),
    or None when it is not set: a JWT from the access/secret pair opens the /v1 routes only."""
    name = key_env or provider.key_env
    if name and env.get(name):
        return BearerKey(env[name], name)
    if provider.name is ProviderName.SIMULATOR:
        return BearerKey("kbatch-simulator", "the simulator's key")
    return None


def missing_key(
    config: ProviderConfig,
    jobs: Iterable[tuple[JobKind, Mapping[str, object]]],
    env: Mapping[str, str],
) -> str | None:
    """Why the jobs cannot all be sent, when some go to Kling's new API (their model lives there
    only, or ``provider.api: new``) and the provider or the key for it is missing: a message
    naming the variable to set (never a value); None when nothing is missing. Checked before
    anything is sent."""
    return key_problem(config, (models.choose(k, r, config.api) for k, r in jobs), env)


def key_problem(
    config: ProviderConfig, targets: Iterable[Target], env: Mapping[str, str]
) -> str | None:
    """:func:`missing_key` for targets already chosen (a run keeps each job's)."""
    wanted = sorted({t.path.rsplit("/", 1)[-1] for t in targets if isinstance(t, ModelPath)})
    if not wanted:
        return None
    which = f"jobs for {', '.join(wanted)} go to Kling's new API"
    if config.name not in NEW_API_PROVIDERS:
        return f"{which}, which {config.name} does not serve: use provider: kling"
    if api_key(config.spec, env, config.api_key_env) is not None:
        return None
    name = config.api_key_env or config.spec.key_env
    return (
        f"{which}, which takes an API key only: set {name} in the environment "
        "(KLING_ACCESS_KEY/KLING_SECRET_KEY sign requests to the /v1 routes only)"
    )


__all__ = [
    "JWT_RENEW_BEFORE",
    "JWT_TTL",
    "NEW_API_PROVIDERS",
    "Auth",
    "BearerKey",
    "KlingJwt",
    "api_key",
    "credentials",
    "key_problem",
    "missing_key",
]

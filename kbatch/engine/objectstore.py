"""The media store: an S3 bucket (or any S3-compatible one: R2, MinIO, GCS's XML API), a Google
Cloud Storage bucket (``gs://``) or an Azure Blob container (``az://``), through obstore, the
``kbatch[s3]`` extra (it has all three, and presigns for each).

obstore was chosen over boto3/aiobotocore: one wheel of a few MB with no dependency (boto3 and
botocore weigh about 100 MB installed; aiobotocore pins botocore to a narrow range), async put and
head without a thread pool, and presigning (``obstore.sign``) in the same library, computed
locally. Credentials, region and endpoint come from the standard AWS environment only
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``,
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``), never from the manifest; GCS's and Azure's
from theirs (``GOOGLE_*``, ``AZURE_STORAGE_*``: see :func:`_gcs`, :func:`_azure`).

::

    bucket = Bucket.open(StoreUrl.parse("s3://media/kbatch"))
    if not await bucket.exists("ab12....mp4"):
        await bucket.put("ab12....mp4", Path("clip.mp4"), "video/mp4")
    url = bucket.sign("ab12....mp4", 86400)      # never logged, never stored

Errors become :class:`StoreFailed` with the store's own message, with no URL (a signed query is
a secret) and no credential in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from kbatch.errors import KbatchError
from kbatch.media import INSTALL_S3, StoreUrl


class StoreFailed(KbatchError):
    """The media store refused or could not be reached; the message is the store's own."""

    title = "Media store error"


def _endpoint(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")


class Bucket:
    """One bucket and prefix: head, put and presigned GET URLs of its objects."""

    def __str__(self) -> str:
        return str(self.where)

    def __init__(self, where: StoreUrl, store: Any) -> None:
        self.where = where
        self._store = store

    @classmethod
    def open(cls, where: StoreUrl, env: Mapping[str, str] | None = None) -> Bucket:
        """The bucket, configured from its store's standard environment; no request is sent
        (StoreFailed: the extra is missing, or the store's settings are wrong)."""
        try:
            import obstore.store as stores
        except ImportError:
            raise StoreFailed(f"a media store needs the s3 extra: {INSTALL_S3}") from None
        env = os.environ if env is None else env
        options: dict[str, Any] = {"timeout": timedelta(minutes=10)}
        try:
            if where.scheme == "gs":
                store = _gcs(stores, where, env, options)
            elif where.scheme in ("az", "azure"):
                store = _azure(stores, where, env, options)
            else:
                store = _s3(stores, where, env, options)
        except Exception as exc:  # obstore's configuration errors are its own classes
            raise StoreFailed(f"{where}: {_said(exc)}") from None
        return cls(where, store)

    async def exists(self, name: str) -> bool:
        """Whether the object is there already (a HEAD)."""
        import obstore

        try:
            await obstore.head_async(self._store, name)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise StoreFailed(_said(exc)) from None
        return True

    async def put(self, name: str, path: Path, content_type: str) -> None:
        """Upload one file (multipart when large, streamed from disk)."""
        import obstore

        try:
            await obstore.put_async(
                self._store, name, path, attributes={"Content-Type": content_type}
            )
        except Exception as exc:
            raise StoreFailed(_said(exc)) from None

    def sign(self, name: str, seconds: float) -> str:
        """A presigned GET URL valid for ``seconds`` (made locally: no request)."""
        import obstore

        try:
            return obstore.sign(self._store, "GET", name, timedelta(seconds=seconds))
        except Exception as exc:
            raise StoreFailed(f"{self.where}/{name}: cannot sign: {_said(exc)}") from None


def _s3(stores: Any, where: StoreUrl, env: Mapping[str, str], options: dict[str, Any]) -> Any:
    config: dict[str, Any] = {}
    endpoint = _endpoint(env)
    if endpoint:
        config["endpoint"] = endpoint
    if env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"):
        config["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if endpoint and endpoint.startswith("http://"):
        options["allow_http"] = True  # a local MinIO or test server
    return stores.S3Store(
        where.bucket, prefix=where.prefix or None, config=config, client_options=options
    )


def _gcs(stores: Any, where: StoreUrl, env: Mapping[str, str], options: dict[str, Any]) -> Any:
    """GCS: a service account (``GOOGLE_SERVICE_ACCOUNT``/``_PATH``/``_KEY``, or the
    ``GOOGLE_APPLICATION_CREDENTIALS`` file; signing needs its private key)."""
    config = {name: env[name] for name in _GOOGLE if env.get(name)}
    if config.get("GOOGLE_BASE_URL", "").startswith("http://"):
        options["allow_http"] = True
    return stores.GCSStore(
        where.bucket, prefix=where.prefix or None, config=config, client_options=options
    )


def _azure(stores: Any, where: StoreUrl, env: Mapping[str, str], options: dict[str, Any]) -> Any:
    """Azure Blob: ``AZURE_STORAGE_ACCOUNT_NAME`` and ``AZURE_STORAGE_ACCOUNT_KEY`` (a key signs
    the SAS URLs), ``AZURE_STORAGE_ENDPOINT`` or ``AZURE_STORAGE_USE_EMULATOR`` (Azurite)."""
    config = {name: env[name] for name in _AZURE if env.get(name)}
    endpoint = config.get("AZURE_STORAGE_ENDPOINT", "")
    emulator = config.get("AZURE_STORAGE_USE_EMULATOR", "").lower() in ("1", "true", "yes")
    if emulator or endpoint.startswith("http://"):
        options["allow_http"] = True
    return stores.AzureStore(
        where.bucket, prefix=where.prefix or None, config=config, client_options=options
    )


#: The environment each store is configured from (obstore refuses a key it does not know).
_GOOGLE = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_BEARER_TOKEN",
    "GOOGLE_BASE_URL",
)
_AZURE = (
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_STORAGE_CLIENT_ID",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID",
    "AZURE_STORAGE_ENDPOINT",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USE_AZURE_CLI",
)


_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_MESSAGE = re.compile(r"<Message>([^<]{1,300})</Message>")
_STATUS = re.compile(r"status code: (\d{3})")


def _said(exc: BaseException) -> str:
    """The store's own message: its error code and message when it sent them (S3's XML),
    else the first line of the library's; never a URL (a signed one would be a secret)."""
    text = str(exc).strip()
    code, message, status = _CODE.search(text), _MESSAGE.search(text), _STATUS.search(text)
    if code is not None:
        said = f"{code.group(1)}: {message.group(1).splitlines()[0] if message else 'refused'}"
        return said + (f" (HTTP {status.group(1)})" if status else "")
    first = text.splitlines()[0] if text else type(exc).__name__
    return " ".join("<url>" if "://" in word else word for word in first.split())[:300]


__all__ = ["Bucket", "StoreFailed"]

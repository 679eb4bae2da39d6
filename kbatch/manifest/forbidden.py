"""Keys a manifest must never hold: literal credentials (they belong in the environment) and
``external_task_id`` (kbatch's own, the key to exactly-once). Refused anywhere they appear, and
their values are never echoed."""

from __future__ import annotations

import re
from typing import Any

from kbatch.manifest.document import Document, PathKey
from kbatch.manifest.issues import IssueLog

_CREDENTIAL_KEY = re.compile(
    r"([a-z0-9]+[_-])?(api[_-]?key|access[_-]?key|secret([_-]?key)?|(access[_-]?)?token"
    r"|password|passwd|authorization|bearer|key)",
    re.IGNORECASE,
)
_CREDENTIAL_MESSAGE = (
    "credentials never go in a manifest: delete this key and set the key in the environment "
    "(KLING_ACCESS_KEY and KLING_SECRET_KEY, or KLING_API_KEY; COMETAPI_KEY; ANYAPI_KEY), "
    "or name your own variable with provider.api_key_env"
)
_EXTERNAL_ID_MESSAGE = (
    "external_task_id belongs to kbatch: it derives one per attempt from the job's fingerprint, "
    "so that a create whose answer was lost is looked up instead of paid for twice; delete it"
)


def refuse_forbidden_keys(
    document: Document, value: Any, path: PathKey, log: IssueLog
) -> list[PathKey]:
    """Literal credentials and external_task_id, anywhere; their values are never echoed."""
    refused: list[PathKey] = []
    if isinstance(value, dict):
        for key, child in value.items():
            where = (*path, key)
            if key != "api_key_env" and _CREDENTIAL_KEY.fullmatch(key):
                log.add(document.issue(where, _CREDENTIAL_MESSAGE, key=True))
                refused.append(where)
            elif key == "external_task_id":
                log.add(document.issue(where, _EXTERNAL_ID_MESSAGE, key=True))
                refused.append(where)
            else:
                refused += refuse_forbidden_keys(document, child, where, log)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            refused += refuse_forbidden_keys(document, child, (*path, index), log)
    return refused


__all__ = ["refuse_forbidden_keys"]

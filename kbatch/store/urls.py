"""A state database's URL, as kbatch names it to a human: never with its password.

Neutral on purpose (no driver, no schema): the file state, the output folder's owner marker and
every message use it without loading PostgreSQL's modules.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")


def is_url(location: object) -> bool:
    """Whether a ``--state`` value names a PostgreSQL database rather than a file."""
    return isinstance(location, str) and location.startswith(SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password (and without a query that could carry one).

    >>> redacted("postgresql://kb:s3cret@db.example:5432/kbatch?sslmode=require")
    'postgresql://kb:***@db.example:5432/kbatch'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, has_password, _ = user.partition(":")
        netloc = f"{name}:***@{host}" if has_password else f"{name}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def password(url: str) -> str | None:
    return urlsplit(url).password


def scrubbed(text: str, url: str) -> str:
    """A driver's message with the URL's password (if it appears) masked."""
    secret = password(url)
    return text.replace(secret, "***") if secret else text


__all__ = ["SCHEMES", "is_url", "password", "redacted", "scrubbed"]

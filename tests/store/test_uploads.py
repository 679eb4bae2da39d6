"""The state's record of media uploads (``uploads``), on both backends: a claim per object, so
that two runners never upload one file at the same time; done for every later run; a failed
upload's claim given back; a dead runner's claim taken over once stale."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kbatch.store.postgres import PostgresStore
from kbatch.store.seats import RunnerSpec
from tests import shared
from tests.store.test_contract import Store, Where, state, where

__all__ = ["state", "where"]  # the fixtures, for both backends

S3 = "s3://bucket/prefix"


def test_a_claim_is_one_runners_until_done_or_given_back(where: Where, state: Store) -> None:
    name = "ab" * 32 + ".mp4"
    assert state.claim_upload(S3, name, 10, now=100.0, stale=60.0) == "mine"
    assert state.claim_upload(S3, name, 10, now=101.0, stale=60.0) == "busy"
    state.unclaim_upload(S3, name)  # the upload failed: another may try
    assert state.claim_upload(S3, name, 10, now=102.0, stale=60.0) == "mine"
    assert state.claim_upload(S3, name, 10, now=200.0, stale=60.0) == "mine"  # stale: taken over
    state.uploaded(S3, name, now=201.0)
    assert state.claim_upload(S3, name, 10, now=202.0, stale=60.0) == "done"
    assert state.claim_upload("s3://other/prefix", name, 10, now=202.0, stale=60.0) == "mine"
    assert state.uploads() == [(S3, name, 10)]


def test_two_runners_claiming_at_once_get_one_claim() -> None:
    """Two PostgreSQL runners (two connections) claim the same objects at the same time: each
    object is one runner's (on a state file there is one runner: its lock says so)."""
    with shared.schema(shared.server()) as url:
        claims(url)


def claims(url: str) -> None:
    stores = [
        PostgresStore.open(
            url, manifest_name=f"m{i}", account="acme", fingerprint="f", runner=RunnerSpec()
        )
        for i in range(2)
    ]
    names = [f"{i:064x}.mp4" for i in range(40)]
    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(
                pool.map(
                    lambda store: [
                        store.claim_upload(S3, n, 1, now=1.0, stale=60.0) for n in names
                    ],
                    stores,
                )
            )
    finally:
        for store in stores:
            store.close()
    for first, second in zip(*outcomes, strict=True):
        assert sorted((first, second)) == ["busy", "mine"]

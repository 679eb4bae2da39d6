"""The media store beyond S3, expired URLs, and a file changed after its check.

Google Cloud Storage (``gs://``) and Azure Blob (``az://``, ``azure://``) are taken from their
standard environment and their URLs signed locally; no cloud is reached here, so their tests stop
short of a request. A presigned URL past its expiry is refused by the simulator as the store would
answer Kling (403), and kbatch signs afresh for every create it sends (a resend too). A file whose
bytes change between its check and its upload is refused, never uploaded under the old name.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.engine.objectstore import Bucket, StoreFailed
from kbatch.media import StoreUrl, unsigned
from kbatch.simulator import Fault, Op, Simulator, fetching
from kbatch.store.records import FailureReason, JobState
from tests.clips import clip
from tests.engine.test_media_store import local_jobs, project
from tests.objectstore import S3Server, s3_server

#: A storage account key of the right shape (Azurite's published development key).
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with s3_server(monkeypatch) as server:
        yield server


@pytest.mark.parametrize(
    ("text", "scheme", "bucket", "prefix"),
    [
        ("s3://media/runs/", "s3", "media", "runs"),
        ("gs://media-gcs/a/b", "gs", "media-gcs", "a/b"),
        ("az://container/kb", "az", "container", "kb"),
        ("azure://container", "azure", "container", ""),
    ],
)
def test_a_store_url_of_each_cloud_is_parsed(
    text: str, scheme: str, bucket: str, prefix: str
) -> None:
    assert StoreUrl.parse(text) == StoreUrl(scheme, bucket, prefix)


def test_an_unknown_store_scheme_is_refused_where_it_is_named(
    tmp_path: Path, threaded: Simulator
) -> None:
    proj = project(tmp_path, threaded, {"store": "ftp://media/kb"})
    result = CliRunner().invoke(cli, ["validate", str(proj.manifest)])
    assert result.exit_code != 0
    assert 'manifest.yaml:14:10: $.media.store: "ftp://media/kb" is not valid' in result.output
    assert "gs://bucket/prefix or az://container/prefix" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(ValueError, match="not ftp://"):
        StoreUrl.parse("ftp://media/kb")


def test_an_azure_container_is_opened_from_its_environment_and_signs_locally() -> None:
    env = {"AZURE_STORAGE_ACCOUNT_NAME": "kbatchacct", "AZURE_STORAGE_ACCOUNT_KEY": AZURE_KEY}
    bucket = Bucket.open(StoreUrl.parse("az://clips/kb"), env)
    url = bucket.sign("ab12.mp4", 3600)
    assert url.startswith("https://kbatchacct.blob.core.windows.net/clips/kb/ab12.mp4?")
    assert "sig=" in url and "sp=r" in url  # a read-only SAS signed with the account key
    end = fetching.presigned_end(url)
    assert end is not None and 3500 < end - fetching.wall() <= 3600
    assert AZURE_KEY not in url and "sig=" not in unsigned(f"cannot fetch {url}")
    emulator = Bucket.open(StoreUrl.parse("azure://clips"), {"AZURE_STORAGE_USE_EMULATOR": "true"})
    assert emulator.sign("x.mp4", 60).startswith("http://127.0.0.1:10000/devstoreaccount1/clips/")
    with pytest.raises(StoreFailed, match="Account must be specified"):
        Bucket.open(StoreUrl.parse("az://clips"), {})


def test_a_gcs_bucket_is_opened_from_its_service_account_and_signs_locally(
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "client_email": "kb@p.iam.gserviceaccount.com",
        "private_key": pem,
        "private_key_id": "k1",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({**account, "type": "service_account"}), encoding="utf-8")
    for env in (
        {"GOOGLE_SERVICE_ACCOUNT": str(path)},
        {"GOOGLE_APPLICATION_CREDENTIALS": str(path)},
    ):
        url = Bucket.open(StoreUrl.parse("gs://media-gcs/kb"), env).sign("ab12.mp4", 600)
        assert url.startswith("https://storage.googleapis.com/media-gcs/kb/ab12.mp4?"), url
        assert "X-Goog-Signature=" in url and "BEGIN PRIVATE" not in url
        end = fetching.presigned_end(url)
        assert end is not None and 500 < end - fetching.wall() <= 601
    bad = {"GOOGLE_SERVICE_ACCOUNT_KEY": "{}"}
    with pytest.raises(StoreFailed, match=r"gs://media-gcs/kb: .*private_key"):
        Bucket.open(StoreUrl.parse("gs://media-gcs/kb"), bad)


def motion_only(tmp_path: Path, sim: Simulator, s3: S3Server) -> Any:
    proj = project(tmp_path, sim, {"store": f"s3://{s3.bucket}/runs"})
    proj.jobs = local_jobs()[:1]
    proj.save()
    return proj


def test_an_expired_presigned_url_is_refused_by_the_simulator(
    tmp_path: Path, threaded: Simulator, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator's wall clock is a day and an hour past the URL's signing (24 h valid)."""
    proj = motion_only(tmp_path, threaded, s3)
    now = fetching.wall()
    monkeypatch.setattr(fetching, "wall", lambda: now + 25 * 3600)
    asyncio.run(proj.run())
    row = proj.rows()["motion-a"]
    assert row.state is JobState.FAILED
    assert "Request has expired" in (row.error_message or "")
    assert "X-Amz-Signature" not in (row.error_message or "")  # the URL is quoted unsigned
    assert s3.count("GET", ".mp4", signed=True) == 0  # refused before any fetch


def test_each_create_signs_a_fresh_url_a_resend_too(
    tmp_path: Path, threaded: Simulator, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 makes kbatch send the create again later: it signs again, from that moment."""
    proj = motion_only(tmp_path, threaded, s3)
    signed: list[float] = []
    sign = Bucket.sign

    def counting(self: Bucket, name: str, seconds: float) -> str:
        signed.append(seconds)
        return sign(self, name, seconds)

    monkeypatch.setattr(Bucket, "sign", counting)
    threaded.faults.script(Op.CREATE, Fault.RATE_LIMIT)
    outcome = asyncio.run(proj.run())
    assert outcome.counts[JobState.DOWNLOADED] == 1
    creates = [e for e in threaded.log if e.op is Op.CREATE]
    assert len(creates) == 2 and len(signed) == 2  # one signature per create sent
    assert signed == [24 * 3600.0] * 2


def test_a_file_changed_after_its_check_is_not_uploaded(
    tmp_path: Path, threaded: Simulator, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is rewritten (same size) between the job's reading and its upload."""
    proj = motion_only(tmp_path, threaded, s3)
    dance = tmp_path / "clips" / "dance.mp4"
    original = Bucket.exists

    async def rewriting(self: Bucket, name: str) -> bool:
        data = bytearray(dance.read_bytes())
        data[-1] ^= 0xFF
        dance.write_bytes(bytes(data))
        return await original(self, name)

    monkeypatch.setattr(Bucket, "exists", rewriting)
    asyncio.run(proj.run())
    row = proj.rows()["motion-a"]
    assert row.state is JobState.FAILED and row.error_reason == FailureReason.MEDIA
    assert "dance.mp4 could not be uploaded" in (row.error_message or "")
    assert "changed since it was checked" in (row.error_message or "")
    assert s3.count("PUT", ".mp4") == 0 and row.attempt == 0
    assert len(threaded.log) == 0
    assert clip(6) != dance.read_bytes()


def test_an_expiry_s3_cannot_sign_is_refused_where_it_is_given(
    tmp_path: Path, threaded: Simulator
) -> None:
    proj = project(tmp_path, threaded, {"store": "s3://media/kb", "expires": "200h"})
    result = CliRunner().invoke(cli, ["validate", str(proj.manifest)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "$.media.expires: at most 168h" in result.output
    proj = project(tmp_path, threaded, {"store": "az://media/kb", "expires": "200h"})
    assert CliRunner().invoke(cli, ["validate", str(proj.manifest)]).exit_code == 0

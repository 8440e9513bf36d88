"""The backup bucket through boto3 (any S3-compatible endpoint; locally `rclone serve s3`): streamed uploads that
hash what passes through, streamed downloads checked against an expected sha256, the manifest, and retention."""

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from provisioning.errors import ProvisioningError

# Parts are uploaded in pieces of this size (boto3's multipart upload): what is held in memory per part in flight.
PART_BYTES = 8 * 1024 * 1024
READ_BYTES = 1024 * 1024


class StorageError(ProvisioningError):
    """The backup storage did not answer or refused (reason readable by a tenant, never a key)."""

    code = "BACKUP_STORAGE_ERROR"
    retryable = True


class ChecksumMismatch(ProvisioningError):
    """A stored part is not what its manifest says (corrupted or replaced): it is never loaded."""

    code = "BACKUP_CORRUPTED"
    retryable = False


def client() -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.BACKUP_S3_ENDPOINT,
        aws_access_key_id=settings.BACKUP_S3_ACCESS_KEY,
        aws_secret_access_key=settings.BACKUP_S3_SECRET_KEY,
        region_name=settings.BACKUP_S3_REGION,
        # Path-style addressing works with every S3-compatible server; checksums only where S3 requires them
        # (rclone and other S3-compatible servers do not all know the newer default ones). Bounded retries.
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def _bucket() -> str:
    return settings.BACKUP_S3_BUCKET


def _failed(what: str, error: Exception) -> StorageError:
    detail = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else type(error).__name__
    return StorageError(f"Backup storage {what} failed ({detail}) at {settings.BACKUP_S3_ENDPOINT}.")


def ensure_bucket() -> None:
    s3 = client()
    try:
        s3.head_bucket(Bucket=_bucket())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise _failed("bucket check", error) from None
        try:
            s3.create_bucket(Bucket=_bucket())
        except (ClientError, BotoCoreError) as create_error:
            raise _failed("bucket creation", create_error) from None
    except BotoCoreError as error:
        raise _failed("bucket check", error) from None


@dataclass
class Written:
    """What went into storage: key, bytes, sha256 (hex) of exactly those bytes."""

    key: str
    size: int
    sha256: str


class HashingWriter:
    """Collects the chunks a command prints into S3 multipart parts of PART_BYTES, hashing every byte: the whole
    dump is never in memory, only the part being filled."""

    def __init__(self, key: str) -> None:
        self.key, self.s3 = key, client()
        self.hash, self.size = hashlib.sha256(), 0
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        try:
            self.upload_id = self.s3.create_multipart_upload(Bucket=_bucket(), Key=key)["UploadId"]
        except (ClientError, BotoCoreError) as error:
            raise _failed("upload", error) from None

    def write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.size += len(chunk)
        self.buffer += chunk
        while len(self.buffer) >= PART_BYTES:
            self._flush(bytes(self.buffer[:PART_BYTES]))
            del self.buffer[:PART_BYTES]

    def _flush(self, data: bytes) -> None:
        number = len(self.parts) + 1
        try:
            answer = self.s3.upload_part(
                Bucket=_bucket(), Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
            )
        except (ClientError, BotoCoreError) as error:
            raise _failed("upload", error) from None
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def close(self) -> Written:
        if self.buffer or not self.parts:
            self._flush(bytes(self.buffer))
            self.buffer.clear()
        try:
            self.s3.complete_multipart_upload(
                Bucket=_bucket(), Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        except (ClientError, BotoCoreError) as error:
            raise _failed("upload", error) from None
        return Written(self.key, self.size, self.hash.hexdigest())

    def abort(self) -> None:
        # Nothing was completed under the key; an upload that cannot be aborted is storage's to expire.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.s3.abort_multipart_upload(Bucket=_bucket(), Key=self.key, UploadId=self.upload_id)


def put_json(key: str, document: dict[str, Any]) -> Written:
    body = json.dumps(document, indent=2, sort_keys=True).encode()
    try:
        client().put_object(Bucket=_bucket(), Key=key, Body=body, ContentType="application/json")
    except (ClientError, BotoCoreError) as error:
        raise _failed("upload", error) from None
    return Written(key, len(body), hashlib.sha256(body).hexdigest())


def get_json(key: str) -> tuple[dict[str, Any], str]:
    """A small JSON object (the manifest) and the sha256 of its stored bytes."""
    try:
        body = client().get_object(Bucket=_bucket(), Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise _failed("download", error) from None
    try:
        document = json.loads(body)
    except ValueError:
        raise ChecksumMismatch(f"{key.rsplit('/', 1)[-1]} is not readable JSON: the backup is corrupted.") from None
    if not isinstance(document, dict):
        raise ChecksumMismatch(f"{key.rsplit('/', 1)[-1]} is not a manifest: the backup is corrupted.")
    return document, hashlib.sha256(body).hexdigest()


def chunks(key: str) -> Iterator[bytes]:
    """The object's bytes, READ_BYTES at a time."""
    try:
        body = client().get_object(Bucket=_bucket(), Key=key)["Body"]
        yield from body.iter_chunks(READ_BYTES)
    except (ClientError, BotoCoreError) as error:
        raise _failed("download", error) from None


def verified_chunks(key: str, *, sha256: str, size: int) -> Iterator[bytes]:
    """The object's bytes, raising ChecksumMismatch at the end when they are not `size` bytes hashing to `sha256`
    (a reader that loads them must then fail: see provisioning.runner.pipe)."""
    digest, seen = hashlib.sha256(), 0
    for chunk in chunks(key):
        digest.update(chunk)
        seen += len(chunk)
        yield chunk
    if seen != size or digest.hexdigest() != sha256:
        raise ChecksumMismatch(
            f"Backup part {key.rsplit('/', 1)[-1]} does not match its manifest (sha256 or size differs): "
            "the backup is corrupted and was not restored."
        )


def verify(key: str, *, sha256: str, size: int) -> None:
    """Read the whole object and check it against the manifest (nothing is written anywhere)."""
    for _ in verified_chunks(key, sha256=sha256, size=size):
        pass


def delete_prefix(prefix: str) -> int:
    """Remove every object under `prefix` (a backup that retention dropped). Returns how many."""
    s3, removed = client(), 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=_bucket(), Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=_bucket(), Delete={"Objects": keys})
                removed += len(keys)
    except (ClientError, BotoCoreError) as error:
        raise _failed("delete", error) from None
    return removed

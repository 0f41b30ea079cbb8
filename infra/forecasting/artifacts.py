"""Model artifacts in the JetStream object store, named by the sha256 of their bytes.

A name that is its content's hash makes a store write idempotent and a read verifiable: bytes
that do not hash to the name they were fetched by are refused, whoever changed them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from infra.connections import connect_nats

DEFAULT_BUCKET = "SPORTCAST_MODELS"


class ArtifactError(Exception):
    code = "artifact-error"


class ArtifactNotFoundError(ArtifactError):
    code = "artifact-not-found"


class ArtifactIntegrityError(ArtifactError):
    """The stored bytes do not hash to the name they were stored under."""

    code = "artifact-hash-mismatch"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    def __init__(self, js: JetStreamContext, *, bucket: str = DEFAULT_BUCKET, replicas: int = 1):
        self.js = js
        self.bucket = bucket
        self.replicas = replicas

    async def put(self, data: bytes) -> str:
        digest = content_hash(data)
        store = await self._store(create=True)
        try:
            await store.get_info(digest)
            return digest  # already there: same bytes, by construction of the name
        except (ObjectNotFoundError, NotFoundError):
            pass
        await store.put(digest, data)
        return digest

    async def get(self, artifact_hash: str) -> bytes:
        """The verified bytes of `artifact_hash`; raises ArtifactIntegrityError if tampered."""
        try:
            store = await self._store(create=False)
            result = await store.get(artifact_hash)
        except (BucketNotFoundError, ObjectNotFoundError, NotFoundError):
            raise ArtifactNotFoundError(
                f"no artifact {artifact_hash} in object store bucket {self.bucket!r}"
            ) from None
        data = bytes(result.data or b"")
        actual = content_hash(data)
        if actual != artifact_hash:
            raise ArtifactIntegrityError(
                f"artifact {artifact_hash} in bucket {self.bucket!r} has sha256 {actual}: "
                "its bytes were changed after it was stored; refusing to load it"
            )
        return data

    async def ensure_bucket(self) -> None:
        """Make the bucket if it is missing (set-up, as the admin user)."""
        await self._store(create=True)

    async def _store(self, *, create: bool) -> ObjectStore:
        if create:
            # Made at set-up; a service's NATS user may use the bucket but not create it.
            with contextlib.suppress(BucketNotFoundError, NotFoundError):
                return await self.js.object_store(self.bucket)
            return await self.js.create_object_store(
                self.bucket,
                config=ObjectStoreConfig(
                    bucket=self.bucket, storage=StorageType.FILE, replicas=self.replicas
                ),
            )
        return await self.js.object_store(self.bucket)


def archive(
    nats_url: str, bucket: str, artifacts: Sequence[bytes], *, replicas: int = 1
) -> list[str]:
    """Store each artifact under its hash (a no-op for one already there) and return the hashes.

    Every model a forecaster loads from a file goes here first, so every artifact hash a
    ForecastIssued records can be fetched from the object store, as the champion's can."""

    async def put_all() -> list[str]:
        nc = await connect_nats(nats_url, name="sportcast-artifacts")
        try:
            store = ArtifactStore(nc.jetstream(), bucket=bucket, replicas=replicas)
            return [await store.put(data) for data in artifacts]
        finally:
            await nc.close()

    return asyncio.run(put_all())

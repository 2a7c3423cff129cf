"""The artifact proxy: content-addressed blobs streamed both ways, their hash checked, so that
clients need no storage credentials.

Uploads go in chunks (:mod:`loopml.store.artifacts.uploads`): start with the digest and size
(a blob already stored is answered ``stored``: nothing to send), PUT each chunk at its offset
(each at most the server's ``--max-body-mb``, else 413 and nothing written), ask the offset
again after a dropped connection, then complete: the server hashes what it received and
stores it only when it matches (else 422, nothing stored). Downloads stream the stored bytes
with the digest in ``X-Loopml-Digest`` (and as the ``ETag``), honour a ``Range`` to resume,
and are checked by the client; ``POST /artifacts/{digest}/verify`` checks the stored copy on
the server (moving a tampered one to quarantine). Writing needs the editor role, reading the
viewer role, deleting the admin role.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, BinaryIO

import anyio
import anyio.from_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from loopml.api.rest.access import needs
from loopml.api.rest.errors import ErrorBody, error_body
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import ArtifactUpload, Blob
from loopml.core.errors import NotFoundError, PayloadTooLargeError
from loopml.core.hashing import CHUNK_SIZE
from loopml.governance import Action

__all__ = ["DIGEST_HEADER", "router"]

router = APIRouter(tags=["artifacts"])
Svc = Annotated[Services, Depends(services_of)]
#: The response header naming the SHA-256 digest of a downloaded blob.
DIGEST_HEADER = "X-Loopml-Digest"
_DIGEST = r"^[0-9a-f]{64}$"
Digest = Annotated[str, Path(pattern=_DIGEST, description="The blob's SHA-256 digest (hex).")]
UploadId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}-[0-9]{1,16}$", description="'<digest>-<size>'.")
]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class NewUpload(BaseModel):
    """The body of ``POST /artifacts/uploads``."""

    digest: str = Field(pattern=_DIGEST, description="SHA-256 of the bytes to send (hex).")
    size: int = Field(ge=0, le=2**50, description="How many bytes will be sent.")


@router.get("/artifacts", dependencies=[Depends(needs(Action.READ))])
def describe_store(services: Svc) -> dict[str, str]:
    """Facts about the server's artifact store (protocol, root, whether it can be written)."""
    return dict(services.backend.artifacts.describe())


@router.post("/artifacts/uploads", dependencies=[Depends(needs(Action.WRITE))])
def start_upload(body: NewUpload, services: Svc) -> ArtifactUpload:
    """Start (or resume) sending a blob: ``stored`` when the server has it already."""
    return services.artifact_uploads.start(body.digest, body.size)


@router.get("/artifacts/uploads/{upload_id}", dependencies=[Depends(needs(Action.WRITE))])
def upload_state(upload_id: UploadId, services: Svc) -> ArtifactUpload:
    """How many bytes of an upload the server holds (where to resume)."""
    return services.artifact_uploads.state(upload_id)


@router.put(
    "/artifacts/uploads/{upload_id}",
    response_model=ArtifactUpload,
    dependencies=[Depends(needs(Action.WRITE))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The chunk's bytes (at most the server's --max-body-mb).",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def send_chunk(
    upload_id: UploadId,
    request: Request,
    services: Svc,
    offset: Annotated[int, Query(ge=0, description="Where this chunk starts.")],
) -> ArtifactUpload | Response:
    """Append one chunk (the raw body) at ``offset``; streamed to disk as it arrives."""
    limit: int = request.app.state.config.max_body
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"The chunk is {int(declared):,} bytes; the limit here is {limit:,} bytes per "
            "request. Send smaller chunks (or start the server with a larger --max-body-mb)."
        )
    pieces = request.stream()

    def chunk() -> Iterator[bytes]:  # runs in a worker thread, pulling from the event loop
        while True:
            try:
                piece = anyio.from_thread.run(pieces.__anext__)
            except StopAsyncIteration:
                return
            if piece:
                yield piece

    uploads = services.artifact_uploads
    try:
        state: ArtifactUpload = await anyio.to_thread.run_sync(
            lambda: uploads.append(upload_id, offset, chunk(), limit=limit)
        )
    except ClientDisconnect:  # what arrived is kept; the client asks where to go on
        return Response(status_code=400)
    return state


@router.post("/artifacts/uploads/{upload_id}/complete", dependencies=[Depends(needs(Action.WRITE))])
def complete_upload(upload_id: UploadId, services: Svc) -> ArtifactUpload:
    """Hash what was received; store it when it matches the digest (else 422)."""
    return services.artifact_uploads.complete(upload_id)


@router.delete(
    "/artifacts/uploads/{upload_id}",
    status_code=204,
    dependencies=[Depends(needs(Action.WRITE))],
)
def abort_upload(upload_id: UploadId, services: Svc) -> None:
    """Drop an upload's staged bytes (a no-op when there are none)."""
    services.artifact_uploads.abort(upload_id)


@router.get("/artifacts/{digest}/info", dependencies=[Depends(needs(Action.READ))])
def blob_info(digest: Digest, services: Svc) -> Blob:
    """The stored blob's size (404 when it is not stored); nothing is read."""
    size = services.artifact_store.stored_size(digest)
    if size is None:
        raise _not_stored(digest)
    return Blob(digest, size)


@router.post("/artifacts/{digest}/verify", dependencies=[Depends(needs(Action.READ))])
def verify_blob(digest: Digest, services: Svc) -> Blob:
    """Read the stored blob and check its digest (422, and the copy quarantined, when not)."""
    return services.artifact_store.verify(digest)


@router.delete("/artifacts/{digest}", status_code=204, dependencies=[Depends(needs(Action.DELETE))])
def delete_blob(digest: Digest, services: Svc) -> None:
    """Remove a blob (a no-op when it is not stored)."""
    services.artifact_store.delete(digest)


@router.get(
    "/artifacts/{digest}",
    dependencies=[Depends(needs(Action.READ))],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The bytes."},
        206: {"content": {"application/octet-stream": {}}, "description": "A range."},
        416: {"model": ErrorBody, "description": "The range is outside the blob."},
    },
)
def download_blob(digest: Digest, request: Request, services: Svc) -> Response:
    """Stream a blob's bytes (or the ``Range`` asked), with its digest in a header."""
    store = services.artifact_store
    size = store.stored_size(digest)
    if size is None:
        raise _not_stored(digest)
    headers = {
        DIGEST_HEADER: digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
    }
    span = _range(request.headers.get("range"), size)
    if span is None:
        start, end, status = 0, size, 200
    elif span == (-1, -1):
        message = f"The range {request.headers.get('range')!r} is outside the {size} bytes."
        body = error_body(message, "InvalidArgumentError")
        return Response(
            body, 416, {"Content-Range": f"bytes */{size}"}, media_type="application/json"
        )
    else:
        start, end = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    stream = store.open_unverified(digest, start)
    return StreamingResponse(
        _pieces(stream, end - start),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


def _not_stored(digest: str) -> NotFoundError:
    return NotFoundError(
        f"No artifact with digest {digest} on this server. Check the digest (it is the "
        "Blob.digest returned when the artifact was stored), or log the artifact again."
    )


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` of a single ``bytes=`` range (end excluded); None for the whole blob
    (no header, or one this server ignores); ``(-1, -1)`` when it cannot be satisfied."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        return (-1, -1) if size or start else None
    return start, end


def _pieces(stream: BinaryIO, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``stream`` in pieces, the stream closed at the end."""
    try:
        left = length
        while left > 0 and (piece := stream.read(min(CHUNK_SIZE, left))):
            left -= len(piece)
            yield piece
    finally:
        stream.close()

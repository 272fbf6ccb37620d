"""Read one output blob with plain ranged GETs, each signed by its own read-only SAS.

The blob SDK's pipeline (policies, shared-key signing, deserialisation) cost about as much
client CPU per output download as the four ARM requests of a machine together (profile, N =
2,000). A blob read needs none of it: one ``GET <blob url>?<sas>`` with ``x-ms-range`` through
the run's own connection pool (the same transport seam as ARM's) reads a whole output in the
common case. What it keeps of the SDK's download (``RunStorage.download`` before):

- **Least rights, shortest life**: every request is signed with an ``sp=r``, ``sr=b`` SAS for
  this one blob that lives 15 minutes (the clock skew Azure tolerates for shared-key requests,
  which the SDK used). The signed URL exists only for the request: it is never logged, never in
  an error (messages name the blob; the transport's error is dropped, ``from None``), never
  returned. With Entra sign-in the SAS is signed with the run's user delegation key.
- **The capped tail**: the first GET reads up to ``first_bytes`` and tells the blob's full size
  (``Content-Range``); a blob larger than the cap is read again from ``size - max_bytes`` on,
  in ``chunk_bytes`` ranges (so no more than that is held in memory per read), each with
  ``If-Match`` on the first answer's ETag: a blob that changes mid-read fails this read (the
  caller reads again), it is never stitched from two versions.
- **Missing and empty**: 404 is a missing blob (a size-0 capture without a file); 416 on the
  first range is an empty blob (an empty file).
- **Failures**: anything else (a 5xx, a 403, a timeout, a dropped connection) is a
  ``StorageError`` naming the blob and the status; the collector retries it within its budget
  (``fleet.engine.collect``). A connection that drops before any answer is tried once more at
  once (a pooled connection the server had just closed); a GET is safe to repeat.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fleet.arm.transport import Transport, TransportFailure, TransportResponse
from fleet.blobs.download import write_capped
from fleet.errors import StorageError
from fleet.types import StreamCapture

__all__ = ["CHUNK_GET_BYTES", "FIRST_GET_BYTES", "READ_TIMEOUT_S", "fetch_capped"]

# The first GET reads this much (the SDK's single-get size before: nearly every output in
# one request); later ranges this much each, so a read holds at most that in memory.
FIRST_GET_BYTES = 4 * 1024 * 1024
CHUNK_GET_BYTES = 1024 * 1024
# One GET of at most FIRST_GET_BYTES, connect included (the SDK read with a 60 s socket timeout).
READ_TIMEOUT_S = 60.0

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)")
_CODE = re.compile(r"[A-Za-z0-9]{1,64}")


def _error(blob_name: str, what: str) -> StorageError:
    return StorageError(f"reading blob {blob_name} failed: {what}")


def _status_error(blob_name: str, response: TransportResponse) -> StorageError:
    code = response.header("x-ms-error-code") or ""
    code = code if _CODE.fullmatch(code) else ""  # a header is input too: bounded, plain
    return _error(blob_name, f"HTTP {response.status}" + (f" {code}" if code else ""))


def _full_size(response: TransportResponse) -> int:
    """The blob's whole size: ``Content-Range: bytes 0-999/10240`` on a range answer, else the
    body itself (a server that ignored the range sent it all)."""
    match = _CONTENT_RANGE.fullmatch((response.header("content-range") or "").strip())
    return int(match.group(3)) if match else len(response.body)


async def _get(
    transport: Transport, sign: Callable[[], str], blob_name: str, headers: dict[str, str],
    timeout_s: float,
) -> TransportResponse:
    for attempt in (1, 2):
        try:
            return await transport.request("GET", sign(), headers=headers, timeout_s=timeout_s)
        except TransportFailure as failure:
            # A timeout waits for the caller's backoff; a connection dropped under the request
            # (a pooled one the server had closed) is worth one more try at once.
            timed_out = isinstance(failure.__cause__, TimeoutError)
            if attempt == 1 and failure.retryable and not timed_out:
                continue
            what = "timeout" if timed_out else "connection failed or lost"
            raise _error(blob_name, what) from None  # the transport's message holds the URL
    raise AssertionError("unreachable")


async def fetch_capped(
    transport: Transport,
    sign: Callable[[], str],
    blob_name: str,
    dest: Path,
    *,
    max_bytes: int,
    relative_to: Path | None = None,
    timeout_s: float = READ_TIMEOUT_S,
    first_bytes: int = FIRST_GET_BYTES,
    chunk_bytes: int = CHUNK_GET_BYTES,
) -> StreamCapture:
    """Read ``blob_name`` into ``dest``, keeping its last ``max_bytes`` (see the module doc).
    ``sign()`` returns the blob's URL with a fresh read-only SAS, one per request."""
    if max_bytes < 0:
        raise StorageError("max_bytes must not be negative")
    if max_bytes == 0:
        # Only the size is kept: a HEAD says it.
        head = await _head(transport, sign, blob_name, timeout_s)
        if head is None:
            return StreamCapture(source="blob")
        size = int(head.header("content-length") or 0)
        return await write_capped(_nothing(), dest, total_size=size, kept_from=size,
                                  max_bytes=0, relative_to=relative_to)
    first_len = max(1, min(max_bytes, first_bytes))
    first = await _get(transport, sign, blob_name, {"x-ms-range": f"bytes=0-{first_len - 1}"},
                       timeout_s)
    if first.status == 404:
        return StreamCapture(source="blob")
    if first.status == 416:  # a range on an empty blob
        return await write_capped(_nothing(), dest, total_size=0, kept_from=0,
                                  max_bytes=max_bytes, relative_to=relative_to)
    if first.status not in (200, 206):
        raise _status_error(blob_name, first)
    size = _full_size(first)
    offset = max(0, size - max_bytes)
    etag = first.header("etag")

    async def chunks() -> AsyncIterator[bytes]:
        position = offset
        if offset == 0:
            yield first.body
            position = len(first.body)
        while position < size:
            end = min(size, position + chunk_bytes) - 1
            headers = {"x-ms-range": f"bytes={position}-{end}"}
            if etag:
                headers["if-match"] = etag
            answer = await _get(transport, sign, blob_name, headers, timeout_s)
            if answer.status not in (200, 206) or not answer.body:
                raise _status_error(blob_name, answer)
            yield answer.body
            position += len(answer.body)

    return await write_capped(chunks(), dest, total_size=size, kept_from=offset,
                              max_bytes=max_bytes, relative_to=relative_to)


async def _head(
    transport: Transport, sign: Callable[[], str], blob_name: str, timeout_s: float
) -> TransportResponse | None:
    try:
        answer = await transport.request("HEAD", sign(), headers={}, timeout_s=timeout_s)
    except TransportFailure:
        raise _error(blob_name, "connection failed, lost or timed out") from None
    if answer.status == 404:
        return None
    if answer.status != 200:
        raise _status_error(blob_name, answer)
    return answer


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing

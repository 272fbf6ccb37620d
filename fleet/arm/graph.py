"""``GraphClient``: Azure Resource Graph queries (``POST /providers/Microsoft.ResourceGraph/resources``).

Same seams as :class:`fleet.arm.client.ArmClient` (transport, token provider, clock, retry
policy), but ARG has its own throttle: a per-user quota reported on every answer as
``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after`` (``hh:mm:ss``). The client
waits for the window to reset when the quota is spent, *before* asking, and on a 429 waits for
``Retry-After`` (or the reset time). Pages follow ``$skipToken``, re-sending the same query and
scope. Subscriptions go in batches (Learn advises fewer than 300 per query).
"""

from __future__ import annotations

import json
import random as _random
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet import __version__
from fleet.arm.credentials import TokenProvider, check_endpoint, is_loopback_url
from fleet.arm.events import ArmEvent, RequestDone, RetryScheduled, ThrottlePaused
from fleet.arm.retry import RETRYABLE_STATUSES, Retrying, RetryPolicy, parse_retry_after
from fleet.arm.transport import Transport, TransportFailure, TransportResponse
from fleet.clock import Clock, MonotonicClock
from fleet.endpoints import GRAPH_API_VERSION
from fleet.errors import ArmError, AuthError, InsecureEndpointError, ThrottledError
from fleet.redact import redact_text, redact_url

__all__ = [
    "GRAPH_API_VERSION",
    "GraphClient",
    "GraphQueryError",
    "GraphStats",
    "parse_resets_after",
]

SUBSCRIPTIONS_PER_QUERY = 300
_PATH = "/providers/Microsoft.ResourceGraph/resources"


class GraphQueryError(ArmError):
    """ARG refused the query itself (HTTP 400): a bad or unsupported KQL query or scope. It is
    the user's input, so the CLI exits 2 as for any bad input."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class GraphStats:
    queries: int = 0  # HTTP exchanges, retries included
    pages: int = 0
    throttled: int = 0  # 429 answers
    retries: int = 0
    quota_wait_s: float = 0.0  # time spent waiting for the quota window or a 429


def parse_resets_after(value: str | None) -> float | None:
    """``"00:00:03"`` (also ``"1.00:00:03"`` with days, or fractional seconds) -> seconds."""
    if not value:
        return None
    text = value.strip()
    days = 0.0
    if "." in text.split(":")[0]:
        head, _, text = text.partition(".")
        try:
            days = float(head)
        except ValueError:
            return None
    parts = text.split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        return None
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    return total if total >= 0 else None


class GraphClient:
    """Runs KQL queries against one ARM endpoint's Resource Graph and yields result rows.

    Owns ``transport`` (``aclose`` closes it); the caller closes ``credential``.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        transport: Transport,
        credential: TokenProvider,
        api_version: str = GRAPH_API_VERSION,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value, safe as a default
        clock: Clock | None = None,
        observer: Callable[[ArmEvent], None] | None = None,
        random: Callable[[], float] | None = None,
        page_size: int = 1000,
    ) -> None:
        check_endpoint(endpoint)  # before any request: no token over plain HTTP off loopback
        if credential.loopback_only and not is_loopback_url(endpoint):
            raise InsecureEndpointError("the dev credential is accepted only for a loopback endpoint")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be 1..1000 (ARG's $top)")
        self._url = f"{endpoint.rstrip('/')}{_PATH}?api-version={api_version}"
        self._transport = transport
        self._credential = credential
        self._retry = retry
        self._clock: Clock = clock or MonotonicClock()
        self._observer = observer
        self._random = random or _random.random
        self._page_size = page_size
        self._remaining: int | None = None
        self._resets_at: float | None = None
        self._queries = 0
        self._pages = 0
        self._throttled = 0
        self._retries = 0
        self._quota_wait_s = 0.0

    async def query(
        self, query: str, *, subscriptions: Sequence[str] = ()
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Every row of ``query`` (objectArray), following ``$skipToken``. Without
        ``subscriptions`` ARG searches every subscription the principal can read."""
        batches: list[list[str] | None] = [None]
        if subscriptions:
            subs = list(dict.fromkeys(subscriptions))
            batches = [subs[i : i + SUBSCRIPTIONS_PER_QUERY]
                       for i in range(0, len(subs), SUBSCRIPTIONS_PER_QUERY)]
        for batch in batches:
            skip_token: str | None = None
            while True:
                body: dict[str, Any] = {"query": query,
                                        "options": {"$top": self._page_size,
                                                    "resultFormat": "objectArray"}}
                if batch is not None:
                    body["subscriptions"] = batch
                if skip_token:
                    body["options"]["$skipToken"] = skip_token
                page = await self._call(json.dumps(body, separators=(",", ":")).encode())
                self._pages += 1
                data = page.get("data")
                if not isinstance(data, list):
                    raise ArmError("Resource Graph answered without a 'data' list; only "
                                   "resultFormat objectArray is supported")
                for row in data:
                    if isinstance(row, Mapping):
                        yield row
                token = page.get("$skipToken")
                if not isinstance(token, str) or not token or not data:
                    break
                skip_token = token

    def stats(self) -> GraphStats:
        return GraphStats(queries=self._queries, pages=self._pages, throttled=self._throttled,
                          retries=self._retries, quota_wait_s=self._quota_wait_s)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------ internals

    async def _call(self, payload: bytes) -> Mapping[str, Any]:
        """One query page: the retry rules of :mod:`fleet.arm.retry`, plus ARG's quota."""
        retrying = Retrying(self._retry, self._clock, self._random, on_retry=self._retry_event)
        async for attempt in retrying.attempts():
            await self._wait_for_quota(retrying)
            try:
                response = await self._exchange(payload, attempt.number, attempt.force_refresh)
            except TransportFailure as failure:
                # A query changes nothing, so repeating it is always safe.
                if failure.retryable and attempt.retry_after_failure("transport"):
                    continue
                raise
            self._observe_quota(response)
            if response.status == 200:
                return self._json(response)
            if response.status == 401 and attempt.retry_with_new_token():
                continue
            if response.status == 429:
                self._throttled += 1
                hint = parse_retry_after(response.header("retry-after"))
                if hint is None:
                    hint = parse_resets_after(response.header("x-ms-user-quota-resets-after"))
                pause = retrying.throttle_pause_s(hint)
                if not attempt.retry_after_throttle(pause):
                    raise ThrottledError(f"Resource Graph quota: waiting {pause:g} s would pass "
                                         f"the retry deadline; {self._message(response)}",
                                         status=429, code=self._code(response))
                self._emit(ThrottlePaused(subscription_id="", kind="graph", pause_s=pause))
                self._quota_wait_s += pause
                continue
            if response.status in RETRYABLE_STATUSES and attempt.retry_after_failure(
                str(response.status), parse_retry_after(response.header("retry-after"))
            ):
                continue
            raise self._error(response)
        raise AssertionError("unreachable: every attempt returns, raises or continues")

    async def _wait_for_quota(self, retrying: Retrying) -> None:
        """Spent quota: wait for the window to reset instead of collecting a 429."""
        if self._remaining is None or self._remaining > 0 or self._resets_at is None:
            return
        wait = self._resets_at - self._clock.now()
        self._remaining = None  # one wait per reported exhaustion; the next answer says more
        if wait <= 0:
            return
        if not retrying.allows_wait(wait):
            raise ThrottledError(f"Resource Graph quota is spent for {wait:g} s, past the retry "
                                 "deadline", status=429)
        self._quota_wait_s += wait
        await self._clock.sleep(wait)

    def _observe_quota(self, response: TransportResponse) -> None:
        remaining = response.header("x-ms-user-quota-remaining")
        resets = parse_resets_after(response.header("x-ms-user-quota-resets-after"))
        if remaining is not None:
            try:
                self._remaining = int(remaining.strip())
            except ValueError:
                self._remaining = None
        if resets is not None:
            self._resets_at = self._clock.now() + resets

    async def _exchange(self, payload: bytes, attempt: int, force_refresh: bool) -> TransportResponse:
        token = await self._credential.get_token(force_refresh=force_refresh)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"fleet/{__version__}",
            "x-ms-client-request-id": str(uuid.uuid4()),
        }
        self._queries += 1
        started = self._clock.now()
        try:
            response = await self._transport.request(
                "POST", self._url, headers=headers, body=payload,
                timeout_s=self._retry.request_timeout_s,
            )
        except TransportFailure as failure:
            self._emit(RequestDone(kind="graph", method="POST", url=redact_url(self._url),
                                   status=None, duration_s=self._clock.now() - started,
                                   attempt=attempt, error=redact_text(str(failure))))
            raise
        self._emit(RequestDone(kind="graph", method="POST", url=redact_url(self._url),
                               status=response.status, duration_s=self._clock.now() - started,
                               attempt=attempt))
        return response

    @staticmethod
    def _body(response: TransportResponse) -> Any:
        try:
            return json.loads(response.body.decode("utf-8")) if response.body else None
        except ValueError:
            return None

    def _json(self, response: TransportResponse) -> Mapping[str, Any]:
        data = self._body(response)
        if not isinstance(data, Mapping):
            raise ArmError("Resource Graph answered 200 with a body that is not a JSON object",
                           status=200)
        return data

    def _code(self, response: TransportResponse) -> str | None:
        data = self._body(response)
        error = data.get("error") if isinstance(data, Mapping) else None
        return str(error.get("code")) if isinstance(error, Mapping) and error.get("code") else None

    def _message(self, response: TransportResponse) -> str:
        """The outer message plus each detail's (ARG puts the specific reason in details)."""
        data = self._body(response)
        error = data.get("error") if isinstance(data, Mapping) else None
        parts: list[str] = []
        if isinstance(error, Mapping):
            for item in (error, *(d for d in error.get("details") or [] if isinstance(d, Mapping))):
                message = str(item.get("message") or "").strip()
                code = str(item.get("code") or "").strip()
                text = f"{code}: {message}" if code and item is not error else message
                if message and text not in parts:
                    parts.append(text)
        elif response.body:
            parts.append(response.body.decode("utf-8", errors="replace")[:300])
        text = " ".join(redact_text("; ".join(parts)).split())[:800] or "no error message"
        return f"{text} (POST {redact_url(self._url)})"

    def _error(self, response: TransportResponse) -> ArmError:
        status, code, message = response.status, self._code(response), self._message(response)
        if status == 400:
            return GraphQueryError(message, status=status, code=code)
        if status in (401, 403):
            return AuthError(message, status=status, code=code)
        return ArmError(message, status=status, code=code)

    def _retry_event(self, attempt: int, delay_s: float, reason: str) -> None:
        self._retries += 1
        self._emit(RetryScheduled(kind="graph", method="POST", url=redact_url(self._url),
                                  attempt=attempt, delay_s=delay_s, reason=reason))

    def _emit(self, event: ArmEvent) -> None:
        if self._observer is not None:
            self._observer(event)

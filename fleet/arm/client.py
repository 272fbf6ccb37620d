"""``ArmClient``: the typed ARM operations fleet needs, over one transport.

Request path, one concern per layer: operation (``put_run_command``...) -> ``_call`` (retry,
429 pause, 401 refresh) -> ``_exchange`` (bucket token, bearer token, one HTTP exchange,
accounting) -> ``Transport``.

Exactly once: a PUT whose outcome is unknown (timeout, dropped connection after sending, 5xx)
is never repeated blindly. The client GETs the run command first and adopts it if it exists;
only a 404 proves the PUT never took effect, and only then is it sent again.
"""

from __future__ import annotations

import json
import random as _random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fleet import __version__
from fleet.arm.credentials import TokenProvider, check_endpoint, is_loopback_url
from fleet.arm.errors import error_for, error_parts
from fleet.arm.events import ArmEvent, RequestDone, RetryScheduled, ThrottlePaused
from fleet.arm.models import (
    ArmStats,
    MachineInfo,
    RunCommandView,
    machine_from_json,
    run_command_from_json,
)
from fleet.arm.retry import RETRYABLE_STATUSES, Retrying, RetryPolicy, parse_retry_after
from fleet.arm.throttle import ArmLimits, BucketKind, ConcurrencyController, Throttle
from fleet.arm.transport import Transport, TransportFailure, TransportResponse
from fleet.clock import Clock, MonotonicClock
from fleet.endpoints import API_VERSION, ARM_ENDPOINT
from fleet.errors import (
    ArmError,
    InsecureEndpointError,
    OutcomeUnknownError,
    RemoteError,
    ThrottledError,
)
from fleet.redact import redact_text, redact_url
from fleet.types import MachineRef

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_ENDPOINT", "ArmClient"]

DEFAULT_ENDPOINT = ARM_ENDPOINT
DEFAULT_API_VERSION = API_VERSION
_PROVIDER = "providers/Microsoft.HybridCompute/machines"


class _Ambiguous(Exception):
    """Internal: a write may or may not have taken effect (never leaves this module)."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause
        super().__init__(str(cause))


class ArmClient:
    """Machines get/list and runCommands put/get/list/delete against one ARM endpoint.

    The client owns ``transport`` (``aclose`` closes it); the caller closes ``credential``.
    ``random`` (returning [0, 1)) drives backoff jitter; tests pass a fixed one.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        transport: Transport,
        credential: TokenProvider,
        api_version: str = DEFAULT_API_VERSION,
        limits: ArmLimits = ArmLimits(),  # noqa: B008 - frozen value, safe as a default
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value, safe as a default
        clock: Clock | None = None,
        observer: Callable[[ArmEvent], None] | None = None,
        random: Callable[[], float] | None = None,
        request_events: bool = True,
    ) -> None:
        check_endpoint(endpoint)  # before any request: no token over plain HTTP off loopback
        if credential.loopback_only and not is_loopback_url(endpoint):
            raise InsecureEndpointError(
                "the dev credential is accepted only for a loopback endpoint"
            )
        self._endpoint = endpoint.rstrip("/")
        parts = urlsplit(self._endpoint)
        self._origin = (parts.scheme.lower(), parts.netloc.lower())
        self._transport = transport
        self._credential = credential
        self._api_version = api_version
        self._retry = retry
        self._clock: Clock = clock or MonotonicClock()
        self._observer = observer
        # A RequestDone per exchange costs a URL redaction: only for an observer that reads
        # them (a run's observer takes retries and throttle pauses; requests are counted).
        self._request_events = request_events and observer is not None
        self._random = random or _random.random
        self._throttle = Throttle(limits, self._clock)
        self._aimd = limits.concurrency
        # ARM's budgets (and so its 429s) are per subscription: so is the in-flight limit.
        self._concurrency: dict[str, ConcurrencyController] = {}
        self._requests: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._throttled = 0
        self._retries = 0
        self._throttle_wait_s = 0.0

    def concurrency_for(self, subscription_id: str) -> ConcurrencyController:
        """The in-flight limit of one subscription (AIMD on its own 429s): ARM's buckets are
        per subscription, so one subscription's throttling never slows another's."""
        key = subscription_id.lower()
        controller = self._concurrency.get(key)
        if controller is None:
            controller = self._concurrency[key] = ConcurrencyController(self._aimd, self._clock)
        return controller

    # ----------------------------------------------------------------- operations

    async def get_machine(self, m: MachineRef) -> MachineInfo:
        """The machine; NotFoundError on 404."""
        url = self._url(self._machine_path(m))
        response = await self._call("read", "GET", url, m.subscription_id)
        if response.status != 200:
            raise error_for(response, "GET", url)
        return machine_from_json(self._json(response, "GET", url), fallback=m)

    async def list_machines(
        self, subscription_id: str, resource_group: str | None = None
    ) -> AsyncIterator[MachineInfo]:
        """Every machine of a subscription or resource group, following ``nextLink``."""
        path = f"/subscriptions/{_seg(subscription_id)}"
        if resource_group:
            path += f"/resourceGroups/{_seg(resource_group)}"
        async for item in self._pages(self._url(f"{path}/{_PROVIDER}"), subscription_id):
            yield machine_from_json(item)

    async def put_run_command(
        self,
        m: MachineRef,
        name: str,
        body: Mapping[str, Any],
        *,
        on_send: Callable[[], None] | None = None,
    ) -> RunCommandView:
        """Create (and so start) a run command: one logical PUT, retried safely.

        Returns the view from the 200/201 body, or the run command adopted by the GET that
        follows an ambiguous outcome. Does not wait for the long-running operation.
        ``on_send`` is called right before each PUT is handed to the transport (the journal
        records it: a crash before it proves the PUT never left). Raises
        ``OutcomeUnknownError`` when ARM acknowledged a PUT with an answer fleet cannot read
        and the run command is gone.
        """
        url = self._url(self._run_command_path(m, name))
        payload = json.dumps(body, separators=(",", ":")).encode()
        retrying = self._retrying("write", "PUT", url)  # one budget for the PUT and its re-PUTs
        while True:
            try:
                response = await self._call(
                    "write",
                    "PUT",
                    url,
                    m.subscription_id,
                    payload,
                    retrying=retrying,
                    ambiguous_raises=True,
                    on_send=on_send,
                )
            except _Ambiguous as ambiguous:
                # Not the driver's retry: an unknown outcome is reconciled before a re-PUT.
                delay = retrying.next_backoff()
                if delay is not None:
                    await retrying.wait(retrying.failures, delay, "unknown outcome")
                # Even out of budget, look once more: a PUT that took effect must be adopted,
                # not reported as failed while its script runs.
                found = await self._reconciling_get(m, name, url)
                if found is not None:
                    return found  # the PUT took effect: adopt, never send it twice
                if delay is None:
                    raise ambiguous.cause from None  # proven not started; out of attempts
                continue  # a 404 proves it never started: sending it again is safe
            view = _interpreted(response, name)
            if view is not None:
                return view
            if response.status == 202:  # accepted without a body: read what was created
                found = await self._reconciling_get(m, name, url)
                return found or RunCommandView(name=name)
            if _settled_refusal(response.status):
                raise error_for(response, "PUT", url)
            # An answer fleet cannot interpret (a 2xx whose body is not the run command, an
            # odd status, a 409): the PUT may have taken effect. Reconcile, never re-send.
            found = await self._reconciling_get(m, name, url)
            if found is not None:
                return found
            if 200 <= response.status < 300:
                raise OutcomeUnknownError(
                    f"ARM acknowledged the PUT ({response.status}) with an answer fleet cannot "
                    "read, and the run command is gone: it may have run "
                    f"(PUT {redact_url(url)})",
                    status=response.status,
                )
            raise error_for(response, "PUT", url)

    async def _reconciling_get(self, m: MachineRef, name: str, url: str) -> RunCommandView | None:
        """The GET that tells whether a PUT took effect. When it cannot be had (errors past
        its retries), nothing tells: ``OutcomeUnknownError``, never a "not sent"."""
        try:
            return await self.get_run_command(m, name)
        except RemoteError as error:
            raise OutcomeUnknownError(
                f"the PUT may have taken effect and the GET that would tell failed ({error}) "
                f"(PUT {redact_url(url)})",
                status=getattr(error, "status", None),
            ) from error

    async def get_run_command(self, m: MachineRef, name: str) -> RunCommandView | None:
        """The run command, or None on 404."""
        url = self._url(self._run_command_path(m, name))
        response = await self._call("read", "GET", url, m.subscription_id)
        if response.status == 404:
            return None
        if response.status != 200:
            raise error_for(response, "GET", url)
        return run_command_from_json(self._json(response, "GET", url), name)

    async def list_run_commands(self, m: MachineRef) -> list[RunCommandView]:
        url = self._url(f"{self._machine_path(m)}/runCommands")
        return [run_command_from_json(item) async for item in self._pages(url, m.subscription_id)]

    async def delete_run_command(self, m: MachineRef, name: str) -> None:
        """Delete (and so stop) a run command; 200/202/204/404 are all fine. Does not wait."""
        url = self._url(self._run_command_path(m, name))
        response = await self._call("delete", "DELETE", url, m.subscription_id)
        if response.status not in (200, 202, 204, 404):
            raise error_for(response, "DELETE", url)

    def stats(self) -> ArmStats:
        return ArmStats(
            by_kind=dict(self._requests),
            by_status=dict(self._by_status),
            throttled=self._throttled,
            retries=self._retries,
            throttle_wait_s=self._throttle_wait_s,
            tokens=self._throttle.levels(),
        )

    async def aclose(self) -> None:
        """Close the transport. The credential stays open: whoever built it closes it."""
        await self._transport.aclose()

    async def __aenter__(self) -> ArmClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- retry layer

    async def _call(
        self,
        kind: BucketKind,
        method: str,
        url: str,
        subscription_id: str,
        body: bytes | None = None,
        *,
        retrying: Retrying | None = None,
        ambiguous_raises: bool = False,
        on_send: Callable[[], None] | None = None,
    ) -> TransportResponse:
        """One logical request: retries 5xx/transport failures, waits out 429s, refreshes the
        token once on 401 (the rules: :mod:`fleet.arm.retry`). Returns the final answer
        whatever its status. With ``ambiguous_raises``, an outcome that may have taken effect
        raises ``_Ambiguous`` instead of being retried."""
        retrying = retrying or self._retrying(kind, method, url)
        async for attempt in retrying.attempts():
            try:
                response = await self._exchange(
                    kind, method, url, subscription_id, body, attempt.number, attempt.force_refresh,
                    on_send,
                )
            except TransportFailure as failure:
                if not failure.retryable:
                    raise
                if failure.maybe_sent and ambiguous_raises:
                    raise _Ambiguous(failure) from failure
                if attempt.retry_after_failure("transport"):
                    continue
                raise
            status = response.status
            if status == 401 and attempt.retry_with_new_token():
                continue  # tokens can expire mid-run
            if status == 429:
                pause_s = self._throttled_pause(kind, subscription_id, response, retrying)
                if attempt.retry_after_throttle(pause_s, sleep=False):
                    continue  # the next exchange waits in the paused bucket
                code, text = error_parts(response, method, url)
                raise ThrottledError(
                    f"throttled: Retry-After {pause_s:g} s would pass the retry deadline; {text}",
                    status=429,
                    code=code,
                )
            if status in RETRYABLE_STATUSES:
                if ambiguous_raises:
                    raise _Ambiguous(error_for(response, method, url))
                server_s = parse_retry_after(response.header("retry-after"))
                if attempt.retry_after_failure(str(status), server_s):
                    continue
                return response  # out of attempts or time: the caller maps the error
            self.concurrency_for(subscription_id).on_success()
            return response
        raise AssertionError("unreachable: every attempt returns, raises or continues")

    def _throttled_pause(
        self, kind: BucketKind, subscription_id: str, response: TransportResponse,
        retrying: Retrying,
    ) -> float:
        """A 429: pause the whole bucket (once, however many callers saw it) and shrink
        concurrency; the caller's next exchange waits in the bucket. Returns the pause."""
        self._throttled += 1
        pause_s = retrying.throttle_pause_s(parse_retry_after(response.header("retry-after")))
        if self._throttle.pause(subscription_id, kind, pause_s):
            self._emit(ThrottlePaused(subscription_id=subscription_id, kind=kind, pause_s=pause_s))
        self.concurrency_for(subscription_id).on_throttle()
        return pause_s

    def _retrying(self, kind: BucketKind, method: str, url: str) -> Retrying:
        def on_retry(attempt: int, delay_s: float, reason: str) -> None:
            self._retry_event(kind, method, url, attempt, delay_s, reason)

        return Retrying(self._retry, self._clock, self._random, on_retry=on_retry)

    # ----------------------------------------------------------------- one exchange

    async def _exchange(
        self,
        kind: BucketKind,
        method: str,
        url: str,
        subscription_id: str,
        body: bytes | None,
        attempt: int,
        force_refresh: bool,
        on_send: Callable[[], None] | None = None,
    ) -> TransportResponse:
        self._throttle_wait_s += await self._throttle.acquire(subscription_id, kind)
        token = await self._credential.get_token(force_refresh=force_refresh)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"fleet/{__version__}",
            "x-ms-client-request-id": str(uuid.uuid4()),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        self._requests[kind] += 1
        started = self._clock.now()
        if on_send is not None:
            on_send()
        try:
            response = await self._transport.request(
                method, url, headers=headers, body=body, timeout_s=self._retry.request_timeout_s
            )
        except TransportFailure as failure:
            self._by_status["transport"] += 1
            if self._request_events:
                self._emit(RequestDone(
                    kind=kind,
                    method=method,
                    url=redact_url(url),
                    status=None,
                    duration_s=self._clock.now() - started,
                    attempt=attempt,
                    error=redact_text(str(failure)),
                ))
            raise
        self._by_status[str(response.status)] += 1
        if self._request_events:
            self._emit(RequestDone(
                kind=kind,
                method=method,
                url=redact_url(url),
                status=response.status,
                duration_s=self._clock.now() - started,
                attempt=attempt,
            ))
        self._throttle.observe(subscription_id, kind, response.headers)
        return response

    # ----------------------------------------------------------------- helpers

    async def _pages(self, url: str, subscription_id: str) -> AsyncIterator[Mapping[str, Any]]:
        next_url: str | None = url
        while next_url:
            response = await self._call("read", "GET", next_url, subscription_id)
            if response.status != 200:
                raise error_for(response, "GET", next_url)
            page = self._json(response, "GET", next_url)
            items = page.get("value") if isinstance(page, Mapping) else None
            for item in items if isinstance(items, list) else []:
                if isinstance(item, Mapping):
                    yield item
            link = page.get("nextLink") if isinstance(page, Mapping) else None
            next_url = self._checked_next_link(link) if isinstance(link, str) and link else None

    def _checked_next_link(self, link: str) -> str:
        """ARM's nextLink, verbatim, but only to our own endpoint: it gets our bearer token."""
        if link.startswith("/"):
            link = self._endpoint + link
        parts = urlsplit(link)
        if (parts.scheme.lower(), parts.netloc.lower()) != self._origin:
            raise ArmError(f"refusing to follow a nextLink to another host ({redact_url(link)})")
        if not any(k.lower() == "api-version" for k, _ in parse_qsl(parts.query)):
            link += ("&" if parts.query else "?") + urlencode({"api-version": self._api_version})
        return link

    def _url(self, path: str) -> str:
        return f"{self._endpoint}{path}?{urlencode({'api-version': self._api_version})}"

    @staticmethod
    def _machine_path(m: MachineRef) -> str:
        return (
            f"/subscriptions/{_seg(m.subscription_id)}/resourceGroups/{_seg(m.resource_group)}"
            f"/{_PROVIDER}/{_seg(m.name)}"
        )

    def _run_command_path(self, m: MachineRef, name: str) -> str:
        return f"{self._machine_path(m)}/runCommands/{_seg(name)}"

    @staticmethod
    def _json(response: TransportResponse, method: str, url: str) -> Mapping[str, Any]:
        try:
            data = json.loads(response.body.decode("utf-8")) if response.body else {}
        except ValueError as error:
            raise ArmError(
                f"ARM answered {response.status} with a body that is not JSON "
                f"({method} {redact_url(url)})",
                status=response.status,
            ) from error
        return data if isinstance(data, Mapping) else {}

    def _retry_event(
        self, kind: BucketKind, method: str, url: str, attempt: int, delay_s: float, reason: str
    ) -> None:
        self._retries += 1
        self._emit(
            RetryScheduled(
                kind=kind,
                method=method,
                url=redact_url(url),
                attempt=attempt,
                delay_s=delay_s,
                reason=reason,
            )
        )

    def _emit(self, event: ArmEvent) -> None:
        if self._observer is not None:
            self._observer(event)


def _interpreted(response: TransportResponse, name: str) -> RunCommandView | None:
    """The run command a 200/201 answer describes, or None if the answer is anything else
    (another status, a body that is not JSON, not an object, has no properties, or names
    another resource)."""
    if response.status not in (200, 201):
        return None
    try:
        data = json.loads(response.body.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("properties"), Mapping):
        return None
    answered = data.get("name")
    if answered is not None and (not isinstance(answered, str) or answered.lower() != name.lower()):
        return None
    return run_command_from_json(data, name)


def _settled_refusal(status: int) -> bool:
    """A 4xx that says the PUT was refused (bad request, auth, not found...): nothing ran.
    409 Conflict is not one: something already holds the name (it may be this PUT)."""
    return 400 <= status < 500 and status != 409


def _seg(value: str) -> str:
    """One URL path segment; names are validated upstream, this only keeps them one segment."""
    return quote(value, safe="")

"""The simulated ARM front door: one catch-all aiohttp handler that matches paths
case-insensitively (as ARM does) and runs every request through the same steps, in ARM's order:
count it, authenticate, inject faults, take throttle tokens, check the api-version, act, and put
the ``x-ms-ratelimit-remaining-*`` headers on the answer."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from aiohttp import web

from fleet_sim.armjson import error_body
from fleet_sim.faults import FaultInjector
from fleet_sim.graph import GRAPH_KEY, GraphService, GraphSpec, resource_graph
from fleet_sim.routes import HANDLERS, SimContext
from fleet_sim.state import FleetState
from fleet_sim.stats import SimStats
from fleet_sim.throttle import Admission, ThrottleBook
from fleet_sim.validate import ArmReject

__all__ = ["API_VERSIONS", "build_app"]

API_VERSIONS = ("2024-11-10-preview", "2025-01-13")
_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_PROV = r"/providers/microsoft\.hybridcompute"
_MACHINE = _RG + _PROV + r"/machines/(?P<machine>[^/]+)"
ROUTES = [
    (name, re.compile(f"^{pattern}/?$", re.IGNORECASE))
    for name, pattern in (
        ("subscriptions", r"/subscriptions"),
        ("resource_graph", r"/providers/microsoft\.resourcegraph/resources"),
        ("machines_sub", _SUB + _PROV + r"/machines"),
        ("machines_rg", _RG + _PROV + r"/machines"),
        ("machine", _MACHINE),
        ("run_commands", _MACHINE + r"/runcommands"),
        ("run_command", _MACHINE + r"/runcommands/(?P<name>[^/]+)"),
        (
            "operation_status",
            _SUB + _PROV + r"/locations/(?P<loc>[^/]+)/operationstatuses/(?P<op>[^/]+)",
        ),
        (
            "operation_result",
            _SUB + _PROV + r"/locations/(?P<loc>[^/]+)/operationresults/(?P<op>[^/]+)",
        ),
    )
]
_KIND = {"GET": "reads", "DELETE": "deletes"}
STATS_KEY = web.AppKey("stats", SimStats)
STATE_KEY = web.AppKey("state", FleetState)
_FAULT_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _error(
    status: int,
    code: str,
    message: str,
    target: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        body=json.dumps(error_body(code, message, target)).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def principal_of(token: str) -> str:
    """Who a bearer token belongs to: its ``oid``/``appid``/``sub`` claim when it is a JWT,
    else a digest of the token (the token itself is never kept or shown)."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
            for claim in ("oid", "appid", "sub"):
                if isinstance(claims, dict) and isinstance(claims.get(claim), str):
                    return str(claims[claim])
        except (ValueError, binascii.Error):
            pass
    return "principal-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _ratelimit_headers(admission: Admission) -> dict[str, str]:
    kind = admission.kind
    if admission.scope == "tenant":
        return {f"x-ms-ratelimit-remaining-tenant-{kind}": str(admission.remaining)}
    headers = {f"x-ms-ratelimit-remaining-subscription-{kind}": str(admission.remaining)}
    if admission.remaining_global is not None:
        headers[f"x-ms-ratelimit-remaining-subscription-global-{kind}"] = str(
            admission.remaining_global
        )
    return headers


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


class Front:
    def __init__(
        self, ctx: SimContext, throttle: ThrottleBook, faults: FaultInjector, stats: SimStats
    ) -> None:
        self.ctx = ctx
        self.throttle = throttle
        self.faults = faults
        self.stats = stats

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._handle(request)
        self.stats.responses_by_status[str(response.status)] += 1
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method.upper()
        route, groups = self._route(request.path)
        entry = HANDLERS.get((route, method)) if route else None
        self.stats.request(method, entry[0] if entry else "Unknown")
        auth = request.headers.get("Authorization")
        if auth is None:
            return self._unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return self._unauthorized(
                "InvalidAuthenticationToken",
                "The access token is invalid: expected 'Bearer <token>'.",
            )
        if self.faults.token_expired(token):
            return self._unauthorized("ExpiredAuthenticationToken", "The access token has expired.")
        fault = self.faults.for_request(method)
        await self.ctx.clock.sleep(self.faults.latency_s())
        if fault.kind == "drop_before":
            self.stats.faults["drop_before"] += 1
            _drop(request)
            return web.Response(status=500)  # never delivered: the connection is gone
        if fault.kind == "error":
            self.stats.faults[f"http_{fault.status}"] += 1
            headers = {"Retry-After": "1"} if fault.status == 503 else None
            code = _FAULT_CODES.get(fault.status, "InternalServerError")
            return _error(
                fault.status, code, "The simulator injected a server error.", headers=headers
            )
        if entry is None or route is None:
            return _error(
                404, "NotFound", f"No simulated ARM operation for {method} {request.path}."
            )
        principal = principal_of(token)
        if route == "resource_graph":  # ARG: its own per-user quota and api-versions
            return await resource_graph(self.ctx, request, principal)
        subscription = groups.get("sub")
        admission = self.throttle.admit(_KIND.get(method, "writes"), principal, subscription)
        headers = _ratelimit_headers(admission)
        if fault.kind == "throttle" and admission.allowed:
            self.stats.faults["throttle"] += 1
            admission = Admission(
                False,
                admission.kind,
                admission.scope,
                admission.remaining,
                admission.remaining_global,
                1,
            )
        if not admission.allowed:
            self.stats.throttled += 1
            return _error(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{admission.kind[:-1]}' requests for subscription '{subscription or '-'}' actor "
                f"'{principal}' exceeded. Please try again after '{admission.retry_after_s}' seconds after "
                "additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
                headers={**headers, "Retry-After": str(admission.retry_after_s)},
            )
        try:
            self._check_api_version(request, route)
            if (
                subscription is not None
                and subscription.lower() not in self.ctx.state.subscriptions
            ):
                raise ArmReject(
                    404,
                    "SubscriptionNotFound",
                    f"The subscription '{subscription}' could not be found.",
                )
            response = await entry[1](self.ctx, request, groups)
        except ArmReject as reject:
            response = _error(reject.status, reject.code, reject.message, reject.target)
        response.headers.update(headers)
        if fault.kind == "drop_after":
            self.stats.faults["drop_after"] += 1
            _drop(request)
        return response

    def _unauthorized(self, code: str, message: str) -> web.Response:
        challenge = 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'
        return _error(401, code, message, headers={"WWW-Authenticate": challenge})

    @staticmethod
    def _route(path: str) -> tuple[str | None, dict[str, Any]]:
        for name, pattern in ROUTES:
            match = pattern.match(path)
            if match:
                return name, match.groupdict()
        return None, {}

    @staticmethod
    def _check_api_version(request: web.Request, route: str) -> None:
        version = request.query.get("api-version")
        if not version:
            raise ArmReject(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if route != "subscriptions" and version not in API_VERSIONS:
            raise ArmReject(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version[:40]}' is invalid. The supported versions are '{','.join(API_VERSIONS)}'.",
            )


async def _stats(request: web.Request) -> web.Response:
    stats: SimStats = request.app[STATS_KEY]
    return web.json_response(stats.as_json())


async def _truth(request: web.Request) -> web.Response:
    from fleet_sim.truth import truth_json

    return web.json_response(truth_json(request.app[STATE_KEY].launches))


async def _reset(request: web.Request) -> web.Response:
    stats: SimStats = request.app[STATS_KEY]
    stats.reset()
    return web.json_response({"reset": True})


def build_app(
    ctx: SimContext, throttle: ThrottleBook, faults: FaultInjector, stats: SimStats
) -> web.Application:
    """The aiohttp application. ``/_sim/*`` is the simulator's own API and is not counted."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[STATS_KEY] = stats
    app[GRAPH_KEY] = GraphService(
        GraphSpec(
            quota=ctx.config.graph_quota,
            window_s=ctx.config.graph_window_s,
            page_size=max(1, ctx.config.page_size),
        )
    )
    app[STATE_KEY] = ctx.state
    front = Front(ctx, throttle, faults, stats)
    app.router.add_get("/_sim/stats", _stats)
    app.router.add_get("/_sim/truth", _truth)
    app.router.add_post("/_sim/reset-stats", _reset)
    app.router.add_route("*", "/{tail:.*}", front.handle)
    return app

from __future__ import annotations

from typing import Any

import pytest
from azure.core.credentials import AccessToken

from fleet.arm.client import ArmClient
from fleet.arm.credentials import (
    AzureTokenProvider,
    DevTokenProvider,
    build_credential,
    check_endpoint,
    is_loopback_url,
    scope_for,
)
from fleet.errors import AuthError, InsecureEndpointError, UsageError
from tests.unit.arm.fakes import FakeClock, FakeTransport, ScriptedTokens, respond


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.3.4.5", True),
        ("http://[::1]:9000/x", True),
        ("https://localhost", True),
        ("http://10.0.0.1", False),
        ("https://management.azure.com", False),
        ("http://127.0.0.1.evil.com", False),
        ("not a url", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_plain_http_to_a_real_host_is_refused_before_any_request() -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda s: respond(200), clock)
    with pytest.raises(InsecureEndpointError, match="plain HTTP"):
        ArmClient(
            endpoint="http://arm.example.com", transport=transport, credential=ScriptedTokens()
        )
    assert transport.sent == []


@pytest.mark.parametrize(
    "bad", ["ftp://x", "https://u:p@host", "https://host/?q=1", "arm.example.com"]
)
def test_malformed_endpoints_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        check_endpoint(bad)


def test_dev_credential_only_for_loopback() -> None:
    with pytest.raises(InsecureEndpointError, match="loopback"):
        build_credential("dev", endpoint="https://management.azure.com", ca_file=None)
    provider = build_credential("dev", endpoint="http://127.0.0.1:4000", ca_file=None)
    assert isinstance(provider, DevTokenProvider)
    # and the client re-checks, whoever built the provider
    with pytest.raises(InsecureEndpointError):
        ArmClient(
            endpoint="https://arm.test",
            transport=FakeTransport(lambda s: respond(200), FakeClock()),
            credential=DevTokenProvider(),
        )


def test_unknown_credential_name() -> None:
    with pytest.raises(UsageError, match="managed-identity"):
        build_credential("kerberos", endpoint="https://management.azure.com", ca_file=None)


async def test_environment_credential_is_built_for_the_endpoint_scope() -> None:
    provider = build_credential(
        "environment", endpoint="https://management.azure.com", ca_file=None
    )
    assert isinstance(provider, AzureTokenProvider) and not provider.loopback_only
    await provider.aclose()


def test_scope_follows_the_cloud() -> None:
    assert scope_for("https://management.azure.com") == "https://management.azure.com/.default"
    assert (
        scope_for("https://management.usgovcloudapi.net/")
        == "https://management.usgovcloudapi.net/.default"
    )


class FakeAzureCredential:
    def __init__(self, lifetime_s: float, wall: list[float]) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.lifetime_s = lifetime_s
        self.wall = wall
        self.fail_with: Exception | None = None

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.fail_with:
            raise self.fail_with
        self.calls.append(scopes)
        return AccessToken(f"tok{len(self.calls)}", int(self.wall[0] + self.lifetime_s))

    async def close(self) -> None:
        return None


async def test_tokens_are_cached_until_near_expiry_and_refreshed_on_demand() -> None:
    clock, wall = FakeClock(), [1_700_000_000.0]
    cred = FakeAzureCredential(lifetime_s=3600, wall=wall)
    provider = AzureTokenProvider(
        cred,
        scope="https://management.azure.com/.default",
        refresh_margin_s=300,
        clock=clock,
        wall_time=lambda: wall[0],
    )
    assert await provider.get_token() == "tok1"
    clock.t += 3000
    wall[0] += 3000
    assert await provider.get_token() == "tok1"  # 600 s left: still good
    clock.t += 400
    wall[0] += 400
    assert await provider.get_token() == "tok2"  # inside the margin: fetched again
    assert await provider.get_token(force_refresh=True) == "tok3"  # after a 401
    assert cred.calls == [("https://management.azure.com/.default",)] * 3


async def test_credential_failure_is_an_auth_error_without_secrets() -> None:
    wall = [0.0]
    cred = FakeAzureCredential(3600, wall)
    cred.fail_with = ValueError("AADSTS7000215: invalid secret; Bearer abc.def.ghi leaked")
    provider = AzureTokenProvider(cred, scope="s", clock=FakeClock(), wall_time=lambda: wall[0])
    with pytest.raises(AuthError) as info:
        await provider.get_token()
    assert "AADSTS7000215" in str(info.value) and "abc.def.ghi" not in str(info.value)

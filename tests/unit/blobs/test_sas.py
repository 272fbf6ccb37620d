from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.storage.blob import UserDelegationKey

from fleet.blobs.sas import MIN_SAS_LIFETIME, blob_sas_url, clamp_expiry, redact
from fleet.blobs.store import RunStorage, container_name
from fleet.errors import StorageError

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _ud_key() -> UserDelegationKey:
    key = UserDelegationKey()
    key.signed_oid = "11111111-2222-3333-4444-555555555555"
    key.signed_tid = "99999999-8888-7777-6666-555555555555"
    key.signed_start = "2026-11-25T09:55:00Z"
    key.signed_expiry = "2026-12-02T10:00:00Z"
    key.signed_service = "b"
    key.signed_version = "2025-11-05"
    key.value = "c2VjcmV0LWtleS12YWx1ZS1ub3QtcmVhbA=="
    return key


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_account_key_sas_is_racw_for_one_blob() -> None:
    url = blob_sas_url(
        "https://acct.blob.core.windows.net", "acct", "fleet-r1", "web 01/s1/a1.out",
        rights="racw", expires_at=NOW + timedelta(hours=1), account_key=KEY,
    )
    assert url.startswith("https://acct.blob.core.windows.net/fleet-r1/web%2001/s1/a1.out?")
    q = _query(url)
    assert q["sp"] == ["racw"] and q["sr"] == ["b"] and q["se"] == ["2026-11-25T11:00:00Z"]
    assert "skoid" not in q


def test_user_delegation_sas_read_only_offline() -> None:
    url = blob_sas_url(
        "https://acct.blob.core.windows.net", "acct", "fleet-r1", "scripts/big.ps1",
        rights="r", expires_at=NOW + timedelta(hours=1), user_delegation_key=_ud_key(),
    )
    q = _query(url)
    assert q["sp"] == ["r"] and q["sr"] == ["b"]
    assert q["skoid"] == ["11111111-2222-3333-4444-555555555555"]
    assert q["sktid"] == ["99999999-8888-7777-6666-555555555555"]
    assert "sig" in q


@pytest.mark.parametrize("rights", ["racwd", "rwl", "", "w"])
def test_other_rights_are_refused(rights: str) -> None:
    with pytest.raises(StorageError):
        blob_sas_url("https://a", "a", "c", "b", rights=rights, expires_at=NOW, account_key=KEY)


def test_exactly_one_key() -> None:
    with pytest.raises(StorageError):
        blob_sas_url("https://a", "a", "c", "b", rights="r", expires_at=NOW)
    with pytest.raises(StorageError):
        blob_sas_url(
            "https://a", "a", "c", "b", rights="r", expires_at=NOW,
            account_key=KEY, user_delegation_key=_ud_key(),
        )


def test_clamp_expiry() -> None:
    assert clamp_expiry(NOW + timedelta(seconds=5), NOW) == NOW + MIN_SAS_LIFETIME
    assert clamp_expiry(NOW + timedelta(hours=2), NOW) == NOW + timedelta(hours=2)
    assert clamp_expiry(NOW + timedelta(days=30), NOW) == NOW + timedelta(days=7)
    with pytest.raises(StorageError):
        clamp_expiry(datetime(2026, 11, 25, 11, 0), NOW)  # naive


def test_redact() -> None:
    text = "GET https://a/c/b?sv=1&sp=r&sig=abc%2Bdef%3D&se=x failed; AccountKey=Zm9v==;x"
    out = redact(text)
    assert "abc" not in out and "Zm9v" not in out
    assert "sig=***" in out and "AccountKey=***" in out and "sp=r" in out


@pytest.mark.parametrize(
    "run_id",
    ["20261125-101500-patch", "Run_ID.With.Dots", "x", "--", "a" * 100, "r--1"],
)
def test_container_name_is_valid(run_id: str) -> None:
    name = container_name(run_id)
    assert 3 <= len(name) <= 63
    assert all(c.isdigit() or (c.isalpha() and c.islower()) or c == "-" for c in name)
    assert name[0].isalnum() and name[-1].isalnum() and "--" not in name


def test_container_names_stay_distinct() -> None:
    assert container_name("20261125-101500-patch") == "fleet-20261125-101500-patch"
    assert container_name("Run_A") != container_name("run-a")
    assert container_name("a" * 100) != container_name("a" * 99)


class _FakeService:
    """Just what RunStorage touches for Entra sign-in, recording calls."""

    account_name = "acct"
    url = "https://acct.blob.core.windows.net/"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def get_user_delegation_key(self, start: datetime, expiry: datetime) -> UserDelegationKey:
        self.calls.append(f"udk {start.isoformat()} {expiry.isoformat()}")
        return _ud_key()

    async def create_container(self, name: str) -> None:
        self.calls.append(f"create {name}")

    async def close(self) -> None:
        self.calls.append("close")


async def test_entra_storage_signs_with_the_user_delegation_key() -> None:
    service: Any = _FakeService()
    async with RunStorage(service, run_id="r-1", account_key=None, clock=lambda: NOW) as store:
        with pytest.raises(StorageError, match="prepare"):
            store.blob_sas_url("m/s.out", expires_at=NOW + timedelta(hours=1))
        await store.prepare()
        url = store.blob_sas_url("m/s.out", expires_at=NOW + timedelta(days=30))
    q = _query(url)
    assert q["sp"] == ["racw"] and q["sr"] == ["b"] and "skoid" in q
    assert q["se"] == ["2026-12-02T10:00:00Z"]  # capped by the key's lifetime
    assert service.calls == [
        "udk 2026-11-25T09:55:00+00:00 2026-12-02T10:00:00+00:00",
        "create fleet-r-1",
        "close",
    ]

from __future__ import annotations

from fleet.redact import redact_text, redact_url

SAS = "https://acct.blob.core.windows.net/c/out.txt?sv=2024-05-04&sr=b&sp=racw&se=2026-01-01T00%3A00%3A00Z&sig=AbC%2Bdef%3D"


def test_sas_url_keeps_path_and_masks_every_value() -> None:
    red = redact_url(SAS)
    assert red.startswith("https://acct.blob.core.windows.net/c/out.txt?")
    assert "AbC" not in red and "racw" not in red and "2024-05-04" not in red
    assert "sig=***" in red


def test_arm_parameters_survive() -> None:
    url = "https://management.azure.com/subscriptions/s/providers/x?api-version=2025-01-13&$skiptoken=abc"
    red = redact_url(url)
    assert "api-version=2025-01-13" in red
    assert "abc" not in red


def test_user_info_is_dropped() -> None:
    assert redact_url("https://user:pw@host/path") == "https://host/path"


def test_text_masks_urls_bearer_tokens_and_jwts() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    text = f"failed for {SAS} with Authorization: Bearer secret-token-1 and {jwt}; sig=loose"
    red = redact_text(text)
    for secret in ("AbC", "secret-token-1", jwt, "loose"):
        assert secret not in red
    assert "Bearer ***" in red

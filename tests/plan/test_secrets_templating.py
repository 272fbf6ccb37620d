from __future__ import annotations

from pathlib import Path

import pytest

from fleet.durations import DurationSyntaxError, format_duration, parse_duration
from fleet.errors import SecretError, TemplateError
from fleet.plan.extravars import parse_extra_vars
from fleet.secrets import default_resolvers, resolve_secret
from fleet.templating import evaluate_when, psquote, shquote
from fleet.types import SecretRef


def test_env_and_file_and_literal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_TEST_PW", "s3cret")
    (tmp_path / "pw").write_text("from-file\n")
    assert resolve_secret(SecretRef("env", "FLEET_TEST_PW")) == "s3cret"
    assert resolve_secret(SecretRef("file", str(tmp_path / "pw"))) == "from-file"
    assert resolve_secret(SecretRef("literal", "x")) == "x"


def test_secret_errors_never_contain_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEET_TEST_MISSING", raising=False)
    with pytest.raises(SecretError, match="not set"):
        resolve_secret(SecretRef("env", "FLEET_TEST_MISSING"))
    with pytest.raises(SecretError, match="not found"):
        resolve_secret(SecretRef("file", str(tmp_path / "none")))
    with pytest.raises(SecretError, match="no resolver"):
        resolve_secret(SecretRef("keyvault", "vault/name"))
    assert "hunter2" not in repr(SecretRef("literal", "hunter2"))


def test_extension_point() -> None:
    resolvers = {**default_resolvers(), "keyvault": lambda ref: f"kv:{ref}"}
    assert resolve_secret(SecretRef("keyvault", "v/n"), resolvers) == "kv:v/n"


def test_quoting_filters() -> None:
    assert shquote("a b") == "'a b'"
    assert shquote("it's") == "'it'\"'\"'s'"
    assert shquote(["a", "b c"]) == "a 'b c'"
    assert psquote("it's") == "'it''s'"
    assert psquote("it\u2019s") == "'it\u2019\u2019s'"
    assert psquote(["a", "b"]) == "'a','b'"
    assert shquote(True) == "true"


def test_when_evaluation() -> None:
    steps = {"check": {"state": "failed", "succeeded": False, "failed": True, "skipped": False}}
    assert evaluate_when("steps.check.failed", steps=steps) is True
    assert evaluate_when("previous.succeeded", steps=steps) is False
    with pytest.raises(TemplateError):
        evaluate_when("steps.nope.failed", steps=steps)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600),
                                               ("1h30m", 5400), (45, 45), ("2d", 172800)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "1x", "m5", True, [1], "30m1h", "8d"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(DurationSyntaxError):
        parse_duration(bad)


def test_extra_vars_forms(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("c: 3\nd: [1]\n")
    merged = parse_extra_vars(["a=1 b='two words'", '{"b": 2}', f"@{tmp_path / 'v.yaml'}"])
    assert merged == {"a": "1", "b": 2, "c": 3, "d": [1]}

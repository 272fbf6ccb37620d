"""The result-line parser and the judge: what counts as pass, fail, error, unknown."""

from __future__ import annotations

import base64

import pytest

from fleet.sweep.evaluate import judge, judge_machine
from fleet.sweep.model import Check, Compare, Expectation, RawResult, Status
from fleet.sweep.protocol import parse_output, result_line
from fleet.types import JobResult, JobState, MachineRef, StreamCapture
from tests.sweep.helpers import NONCE

M = MachineRef("sub", "rg", "web-01", "eastus", "linux")


def raw(check_id: str = "c", output: str = "ok\n", code: int | None = 0, state: str = "done",
        size: int | None = None) -> RawResult:
    return RawResult(check_id, state, code, output, len(output.encode()) if size is None else size)


def runner_output(*results: RawResult, end: bool = True, nonce: str = NONCE) -> str:
    lines = [f"@@FLEETCHK {nonce} BEGIN {len(results)}"]
    lines += [result_line(nonce, i, r) for i, r in enumerate(results, start=1)]
    if end:
        lines.append(f"@@FLEETCHK {nonce} END {len(results)}")
    return "\n".join(lines) + "\n"


def check(check_id: str = "c", expect: Expectation | None = None, os_name: str = "linux") -> Check:
    return Check(check_id, check_id, snippets=((os_name, "true"),), expect=expect or Expectation(),
                 timeout_s=9)


def test_result_lines_round_trip_and_foreign_nonces_are_ignored() -> None:
    text = runner_output(raw("a", "x y\n"), raw("b", "", 3))
    text = text.replace("BEGIN", "BEGIN") + f"@@FLEETCHK {'f' * 32} RESULT 1 a done 0 0 - -\n"
    parsed = parse_output(text, NONCE, ["a", "b"])
    assert parsed.complete
    assert parsed.results["a"].output == "x y\n" and parsed.results["b"].exit_code == 3
    assert any("another nonce" in p for p in parsed.problems)


def test_duplicate_garbled_and_unknown_lines_are_distrusted() -> None:
    good = result_line(NONCE, 1, raw("a"))
    text = "\n".join([f"@@FLEETCHK {NONCE} BEGIN 3", good, good,
                      f"@@FLEETCHK {NONCE} RESULT 2 b done 0 3 !!notbase64 -",
                      f"@@FLEETCHK {NONCE} RESULT 9 zz done 0 0 - -",
                      f"@@FLEETCHK {NONCE} RESULT 3 c done", f"@@FLEETCHK {NONCE} END 3"]) + "\n"
    parsed = parse_output(text, NONCE, ["a", "b", "c"])
    assert parsed.bad_ids == {"a", "b"} and parsed.results == {}
    assert len(parsed.problems) == 4


def test_a_last_line_without_newline_was_cut_and_is_ignored() -> None:
    text = runner_output(raw("a"), end=False) + result_line(NONCE, 2, raw("b"))
    parsed = parse_output(text, NONCE, ["a", "b"])
    assert "a" in parsed.results and "b" not in parsed.results and not parsed.ended


@pytest.mark.parametrize(("expect", "output", "code", "status"), [
    (Expectation(), "anything", 0, Status.PASS),
    (Expectation(), "", 1, Status.FAIL),
    (Expectation(exit_codes=(0, 3)), "", 3, Status.PASS),
    (Expectation(output_matches=("^no$",)), "yes\nno\n", 0, Status.PASS),
    (Expectation(output_matches=("^no$",)), "nope\n", 0, Status.FAIL),
    (Expectation(output_not_matches=(r"\S",)), "\n  \n", 0, Status.PASS),
    (Expectation(output_not_matches=(r"\S",)), "/etc/x\n", 0, Status.FAIL),
    (Expectation(compare=Compare(">=", "8.9", "version", r"OpenSSH_([\d.p]+)")),
     "OpenSSH_9.6p1 Ubuntu", 0, Status.PASS),
    (Expectation(compare=Compare(">=", "8.9", "version", r"OpenSSH_([\d.p]+)")),
     "OpenSSH_8.4p1 Debian", 0, Status.FAIL),
    (Expectation(compare=Compare(">=", "8.9", "version", r"OpenSSH_([\d.p]+)")),
     "ssh: not found", 0, Status.FAIL),
    (Expectation(compare=Compare("==", "2", "number")), " 2\n", 0, Status.PASS),
    (Expectation(compare=Compare("<", "10", "number")), "9.5", 0, Status.PASS),
    (Expectation(compare=Compare("==", "2", "number")), "two", 0, Status.FAIL),
    (Expectation(compare=Compare("==", "root")), "root\n", 0, Status.PASS),
    (Expectation(compare=Compare("==", "root")), "root\ntoor\n", 0, Status.FAIL),
])
def test_expectations(expect: Expectation, output: str, code: int, status: Status) -> None:
    result = judge(check(expect=expect), raw(output=output, code=code))
    assert result.status == status, result
    assert (result.detail == "") == (status == Status.PASS)


def test_a_cut_output_never_passes_a_negative_or_unseen_expectation() -> None:
    cut = raw(output="a" * 10, size=50_000)
    assert judge(check(expect=Expectation(output_not_matches=("secret",))), cut).status == \
        Status.ERROR
    assert judge(check(expect=Expectation(output_matches=("^b",))), cut).status == Status.ERROR
    assert judge(check(expect=Expectation(output_matches=("^a",))), cut).status == Status.PASS


def test_timeout_and_unstartable_checks_are_errors() -> None:
    assert judge(check(), raw(state="timeout", code=124)).detail == "timed out after 9s"
    started = judge(check(), RawResult("c", "error", None, "", 0, "no base64"))
    assert started.status == Status.ERROR and "no base64" in started.detail


def _job(state: JobState, **kw: object) -> JobResult:
    return JobResult(M, "sweep", 0, state, **kw)  # type: ignore[arg-type]


def test_machine_that_never_ran_is_unknown_and_other_os_checks_are_na() -> None:
    checks = [check("a"), check("w", os_name="windows")]
    cells, _ = judge_machine(checks, "linux", _job(JobState.UNREACHABLE, reason="Disconnected"),
                             None, NONCE)
    assert [c.status for c in cells] == [Status.UNKNOWN, Status.NA]
    assert "Disconnected" in cells[0].detail
    cells, _ = judge_machine(checks, "linux", None, None, NONCE)
    assert cells[0].status == Status.UNKNOWN


def test_missing_result_lines_say_why() -> None:
    checks = [check("a"), check("b")]
    text = runner_output(raw("a"), end=False)
    timed_out = _job(JobState.TIMED_OUT, exit_code=None, output=StreamCapture("blob", "x"))
    cells, _ = judge_machine(checks, "linux", timed_out, text, NONCE)
    # issue #13 D13: a runner that did not exit cleanly cannot vouch for a pass
    assert cells[0].status == Status.ERROR and "did not exit cleanly" in cells[0].detail
    assert cells[1].status == Status.ERROR and "timed out" in cells[1].detail
    truncated = _job(JobState.SUCCEEDED, exit_code=0,
                     output=StreamCapture("blob", "x", truncated=True))
    cells, _ = judge_machine(checks, "linux", truncated, text, NONCE)
    assert "truncated" in cells[1].detail
    ok = _job(JobState.SUCCEEDED, exit_code=0, output=StreamCapture("blob", "x"))
    cells, _ = judge_machine(checks, "linux", ok, "garbage only\n", NONCE)
    assert {c.status for c in cells} == {Status.ERROR}
    assert "no runner output" in cells[0].detail


def test_a_forged_line_with_the_right_nonce_inside_output_stays_output() -> None:
    forged = f"@@FLEETCHK {NONCE} RESULT 2 b done 0 3 {base64.b64encode(b'ok').decode()} -"
    text = runner_output(raw("a", forged + "\n", code=1))
    cells, _ = judge_machine([check("a"), check("b")], "linux",
                             _job(JobState.SUCCEEDED, exit_code=0), text, NONCE)
    assert cells[0].status == Status.FAIL and cells[1].status == Status.ERROR

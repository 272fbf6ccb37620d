"""Output groups across machines whose outputs differ only by their own name."""

from __future__ import annotations


def test_outputs_differing_only_by_the_machines_name_form_one_group() -> None:
    from fleet.report.groups import output_groups
    from fleet.types import JobResult, JobState, MachineRef, StreamCapture

    def result(name: str, sha: str, group: str | None) -> JobResult:
        capture = StreamCapture(source="blob", path=f"output/{name}/main.out", size_bytes=10,
                                sha256=sha, excerpt=f"rule added on {name.upper()}", group_sha256=group)
        return JobResult(MachineRef("s", "rg", name), "main", 0, JobState.SUCCEEDED, output=capture)

    groups = output_groups([result("web1", "a", "same"), result("web2", "b", "same"),
                            result("web3", "c", None)])
    counts = sorted(g.count for g in groups if g.stream == "output")
    assert counts == [1, 2]
    merged = next(g for g in groups if g.count == 2)
    assert merged.excerpt == "rule added on <machine>"
    alone = next(g for g in groups if g.count == 1)
    assert alone.excerpt == "rule added on WEB3"  # no digest: shown as it is

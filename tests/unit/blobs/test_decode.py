from __future__ import annotations

import codecs

from hypothesis import given
from hypothesis import strategies as st

from fleet.blobs.decode import decode_output, excerpt_of


def test_utf8_and_crlf() -> None:
    assert decode_output("héllo\r\nwörld\r\n".encode()) == "héllo\nwörld\n"


def test_utf8_bom_is_dropped() -> None:
    assert decode_output(codecs.BOM_UTF8 + "ok ✓".encode()) == "ok ✓"


def test_utf16_le_with_bom_as_windows_powershell_writes_it() -> None:
    data = codecs.BOM_UTF16_LE + "Grüße\r\nC:\\Temp\r\n".encode("utf-16-le")
    assert decode_output(data) == "Grüße\nC:\\Temp\n"


def test_utf16_be_with_bom() -> None:
    assert decode_output(codecs.BOM_UTF16_BE + "abc".encode("utf-16-be")) == "abc"


def test_utf16_le_without_bom_both_alignments() -> None:
    data = "Service started\r\nDone\r\n".encode("utf-16-le")
    assert decode_output(data) == "Service started\nDone\n"
    assert decode_output(data[1:]).endswith("Done\n")  # tail cut mid code unit


def test_invalid_bytes_are_replaced() -> None:
    assert decode_output(b"ok \xff\xfe\xfa end") .startswith("ok ")
    assert "\ufffd" in decode_output(b"a\xc3(b")


def test_odd_length_utf16_does_not_crash() -> None:
    assert decode_output(codecs.BOM_UTF16_LE + b"a\x00b") == "a\ufffd"


@given(st.binary(max_size=512))
def test_never_raises(data: bytes) -> None:
    assert isinstance(decode_output(data), str)


def test_excerpt_keeps_last_lines_and_strips_terminal_escapes() -> None:
    text = "\n".join(f"l{i}" for i in range(50)) + "\n"
    assert excerpt_of(text).splitlines() == [f"l{i}" for i in range(30, 50)]
    assert excerpt_of("\x1b[31mred\x1b[0m \x07bell\x00") == "red bell"
    long = "x" * 5000
    cut = excerpt_of(long)
    assert len(cut) == 2000 and cut.startswith("…")

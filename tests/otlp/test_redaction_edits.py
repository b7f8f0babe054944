"""``redaction_edits``: redaction's decision per attribute (from its key's flags) as edits of the
span's encoding; the C function and its Python twin agree, and refuse a malformed table alike."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmpulse.otlp import _scan_py
from llmpulse.otlp.scan import NATIVE, redaction_edits
from llmpulse.pipeline import _REDACTION_DROP, _REDACTION_KEEP

IMPLEMENTATIONS = [redaction_edits, _scan_py.redaction_edits] if NATIVE else [_scan_py.redaction_edits]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_content_dropped_and_credentials_masked(implementation: Any) -> None:
    # flags: 0 ordinary, 1 LLM, 2 credential, 4 content, 8|4 content left unread
    flags = bytes([1, 4, 0, 2, 12, 5])
    edits: dict[int | str, Any] = {"gen_ai.request.model": "kept"}
    assert implementation(flags, _REDACTION_DROP, edits, "[REDACTED]") == 4
    assert edits == {"gen_ai.request.model": "kept", 1: None, 3: "[REDACTED]", 4: None, 5: None}
    kept: dict[int | str, Any] = {}
    assert implementation(flags, _REDACTION_KEEP, kept, "[REDACTED]") == 1
    assert kept == {3: "[REDACTED]"}


@pytest.mark.skipif(not NATIVE, reason="compares the C function with its twin")
@settings(max_examples=500, deadline=None)
@given(flags=st.binary(max_size=64), table=st.binary(min_size=256, max_size=256))
def test_native_matches_twin(flags: bytes, table: bytes) -> None:
    table = bytes(b % 3 for b in table)
    results = []
    for implementation in IMPLEMENTATIONS:
        edits: dict[int | str, Any] = {}
        results.append((implementation(flags, table, edits, "x"), edits))
    assert results[0] == results[1]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_short_table_is_refused(implementation: Any) -> None:
    with pytest.raises(ValueError, match="the table must have 256 entries, not 3"):
        implementation(b"\x01", b"\x00\x01\x02", {}, "x")

"""The C plan walk (``llmpulse.normalise._fields.read_fields``) against its pure-Python twin
(``_recognise._read_fields`` without it): the same values, of the same types, and the same
"implies streaming", for every dialect table and any attribute values.

The C side only takes the values it can decide alone (an in-range int, a clean short string, a
finite float, a bool) and calls the Python parser for the rest, so the generated values aim at
the edges between the two: bools where ints go, negative and huge numbers, NaN and infinities,
strings with outer spaces or meaning "missing", exactly 200 characters and more."""

from __future__ import annotations

import gc
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.dialects import DIALECTS
from llmpulse.normalise import _recognise
from llmpulse.normalise._recognise import SpanView, _read_fields, _table
from llmpulse.normalise._values import MAX_TOKENS, MISSING

if _recognise._native_read_fields is None:
    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1":
        raise AssertionError("LLMPULSE_REQUIRE_NATIVE=1 but llmpulse.normalise._fields is not built")
    pytest.skip("llmpulse.normalise._fields is not built", allow_module_level=True)

from llmpulse.normalise import _fields  # built: the module is skipped otherwise

_KEYS = sorted({key for dialect in DIALECTS for key in _table(dialect).keys})

_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-5, max_value=MAX_TOKENS + 5),
    st.sampled_from([0, 1, MAX_TOKENS, MAX_TOKENS + 1, -1, 2**63, -(2**63), 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.25, 1e300, math.inf, -math.inf, math.nan, 3.0]),
    st.text(max_size=12),
    st.sampled_from([*sorted(MISSING), " gpt-4o ", "gpt-4o", "x" * 200, "x" * 201, "42", " 7 ", "1.5ms"]),
    st.text(alphabet="ab \t\u3000\u00a0-", max_size=6),
    st.lists(st.sampled_from(["stop", " length", "", "-"]), max_size=3),
    st.sampled_from(['{"a": 1}', "[1, 2]", '["stop"]', "{'k': 'v'}", "[", "stop,length"]),
)


def _typed(values: dict[str, Any]) -> dict[str, tuple[type, str]]:
    # 1 == 1.0 == True: compare the types too, and NaN-safe reprs
    return {key: (type(value), repr(value)) for key, value in values.items()}


def _both(dialect: Any, attrs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    view = SpanView(Span(name="chat gpt-4o", start_time_unix_nano=1), attrs, "scope")
    native = _read_fields(dialect, view)
    with monkeypatch.context() as patch:
        patch.setattr(_recognise, "_native_read_fields", None)
        python = _read_fields(dialect, view)
    assert _typed(native[0]) == _typed(python[0])
    assert native[1] is python[1]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dialect=st.sampled_from(DIALECTS),
    attrs=st.dictionaries(st.sampled_from(_KEYS), _values, max_size=12),
)
def test_native_plan_walk_matches_python(
    dialect: Any, attrs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _both(dialect, attrs, monkeypatch)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_every_table_key_read_alike(dialect: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key of the table at once, with the values instrumentations send."""
    typical: list[Any] = [7, "gpt-4o", 0.25, True, '["stop"]', " 12 ", "-"]
    keys = sorted(_table(dialect).keys)
    for offset in range(len(typical)):
        attrs = {key: typical[(i + offset) % len(typical)] for i, key in enumerate(keys)}
        _both(dialect, attrs, monkeypatch)


def test_fast_path_values_are_kept_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the C side decides alone: exact values, and refusals where Python refuses."""
    semconv = next(d for d in DIALECTS if d.name == "semconv")
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": MAX_TOKENS + 1,  # absurd: refused
        "gen_ai.response.model": "-",  # Envoy's "missing"
        "gen_ai.request.stream": True,
    }
    view = SpanView(Span(name="chat", start_time_unix_nano=1), attrs, "s")
    values, _ = _read_fields(semconv, view)
    assert values["request_model"] == "gpt-4o" and values["input_tokens"] == 1200
    assert "output_tokens" not in values and "response_model" not in values
    _both(semconv, attrs, monkeypatch)


def test_an_event_source_is_read_only_for_a_span_with_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time to first token from an event: the C walk does not call the event source for a span
    without events (nearly every span), and reads it as before for one with them."""
    openllmetry = next(d for d in DIALECTS if d.name == "openllmetry")
    attrs = {"gen_ai.request.model": "gpt-4o", "llm.is_streaming": True}
    read: list[Any] = []

    def recording(step: Any, view: Any, structured: dict[str, Any]) -> Any:
        read.append(type(step[2]).__name__)
        return _recognise._read_source(step, view, structured)

    plan = _table(openllmetry).native
    quiet = SpanView(Span(name="chat", start_time_unix_nano=10**9), attrs, "s")
    native = _recognise._native_read_fields
    assert native is not None
    values, _ = native(attrs, plan, quiet, recording)
    assert "ttft_s" not in values and "Event" not in read
    streamed = Span(name="chat", start_time_unix_nano=10**9)
    streamed.events.add(name="gen_ai.content.completion.chunk", time_unix_nano=10**9 + 250_000_000)
    view = SpanView(streamed, attrs, "s")
    values, _ = native(attrs, plan, view, recording)
    assert values["ttft_s"] == 0.25 and "Event" in read
    with monkeypatch.context() as patch:  # the Python walk reads the same
        patch.setattr(_recognise, "_native_read_fields", None)
        assert _read_fields(openllmetry, view)[0]["ttft_s"] == 0.25
        assert "ttft_s" not in _read_fields(openllmetry, quiet)[0]


def test_untracked_leaves_the_collector_only_what_can_be_in_a_cycle() -> None:
    """Tuples of atoms (and of such untracked tuples) are untracked and handed back as they are;
    a tuple holding a container, or a tuple still tracked, and anything not a tuple stay tracked."""
    stamp = str(os.getpid())  # values made at run time: constant tuples are born untracked
    atoms = (float(os.getpid()), 2, True, None, stamp, stamp.encode())
    inner = (stamp, 1)
    outer_of_tracked = (inner,)
    assert gc.is_tracked(atoms) and gc.is_tracked(inner) and gc.is_tracked(outer_of_tracked)
    assert _fields.untracked(atoms) is atoms and not gc.is_tracked(atoms)
    assert _fields.untracked(outer_of_tracked) is outer_of_tracked and gc.is_tracked(outer_of_tracked)
    assert not gc.is_tracked(_fields.untracked(inner))
    outer = (inner, stamp)
    assert not gc.is_tracked(_fields.untracked(outer))
    holding_a_list: tuple[Any, ...] = ([], stamp)
    assert gc.is_tracked(_fields.untracked(holding_a_list))
    a_list = [stamp]
    assert _fields.untracked(a_list) is a_list and gc.is_tracked(a_list)

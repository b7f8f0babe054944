"""``edit_attributes``: write-back and redaction change an LLM span's attributes in its encoding,
without decoding the span into upb and encoding it again. Oracle: the same edits made on the
upb-decoded span. C and its Python twin must agree byte for byte, errors included; for a span
encoded as upb encodes it, the result is upb's encoding of the edited span."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmpulse.otlp import assign
from tests.otlp.test_scan import DIFFERENTIAL, IMPLS, KEYS, SEEDS, Gen, ld


def edit_all(span: bytes, edits: dict[Any, Any], appends: list[Any]) -> Any:
    """``edit_attributes`` on every implementation: the bytes, or the error's type and message."""
    outcomes = []
    for impl in IMPLS:
        try:
            outcomes.append(impl.edit_attributes(span, dict(edits), list(appends)))
        except (ValueError, TypeError, UnicodeError) as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert all(o == outcomes[0] for o in outcomes[1:]), outcomes
    return outcomes[0]


def oracle(span: Span, edits: dict[Any, Any], appends: list[Any]) -> Span:
    """The same edits through upb: positions and keys (the last attribute with the key) edited,
    then ``appends`` and the keys no attribute has added in order."""
    out = Span()
    out.CopyFrom(span)
    attributes = out.attributes
    targets: dict[int, Any] = {}
    pending = []
    for where, value in edits.items():
        if isinstance(where, int):
            targets[where] = value
            continue
        last = max((i for i, kv in enumerate(span.attributes) if kv.key == where), default=None)
        if last is None:
            if value is not None:
                pending.append((where, value))
        else:
            targets[last] = value
    for item in appends:
        kv = attributes.add()
        kv.key = item[0]
        if len(item) == 3:
            source = max(i for i, a in enumerate(span.attributes) if a.key == item[2])
            kv.value.CopyFrom(span.attributes[source].value)
        else:
            assign(kv.value, item[1])
    for key, value in pending:
        kv = attributes.add()
        kv.key = key
        assign(kv.value, value)
    for position in sorted(targets, reverse=True):
        if targets[position] is None:
            del attributes[position]
        else:
            attributes[position].value.Clear()
            assign(attributes[position].value, targets[position])
    return out


def llm_span() -> Span:
    sp = Span(trace_id=b"T" * 16, span_id=b"S" * 8, name="chat gpt-4o", kind=Span.SPAN_KIND_CLIENT)
    for key, value in (
        ("gen_ai.system", "openai"),
        ("gen_ai.request.model", "gpt-4o"),
        ("gen_ai.prompt.0.content", "What is the capital of France?"),
        ("http.request.header.authorization", "Bearer abcdefghijkl"),
        ("llm.usage.prompt_tokens", 12),
    ):
        assign(sp.attributes.add(key=key).value, value)
    sp.events.add(name="llm.content.completion.chunk", time_unix_nano=7)
    sp.status.code = Status.STATUS_CODE_ERROR
    return sp


# -- exact results ---------------------------------------------------------------------------------
def test_write_back_and_redaction_come_out_as_upb_would_encode_them() -> None:
    sp = llm_span()
    edits = {
        2: None,
        3: "[REDACTED]",
        "gen_ai.request.model": "gpt-4o-2024-08-06",
        "llmpulse.content.redacted": True,
    }
    appends = [
        ("llmpulse.original.gen_ai.request.model", None, "gen_ai.request.model"),
        ("gen_ai.usage.input_tokens", 12),
        ("gen_ai.response.finish_reasons", ["stop"]),
        ("llmpulse.cost.usd", 0.00015),
        ("llmpulse.counted", True),
    ]
    out = edit_all(sp.SerializeToString(), edits, appends)
    expected = oracle(sp, edits, appends)
    assert out == expected.SerializeToString()
    decoded = Span.FromString(out)
    assert [kv.key for kv in decoded.attributes] == [
        "gen_ai.system",
        "gen_ai.request.model",
        "http.request.header.authorization",
        "llm.usage.prompt_tokens",
        "llmpulse.original.gen_ai.request.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.response.finish_reasons",
        "llmpulse.cost.usd",
        "llmpulse.counted",
        "llmpulse.content.redacted",
    ]
    assert decoded.attributes[1].value.string_value == "gpt-4o-2024-08-06"
    assert decoded.attributes[2].value.string_value == "[REDACTED]"
    assert decoded.attributes[4].value.string_value == "gpt-4o"
    assert decoded.attributes[7].value.double_value == 0.00015
    assert [e.name for e in decoded.events] == ["llm.content.completion.chunk"]


def test_no_edit_keeps_the_bytes_and_appends_go_where_upb_puts_attributes() -> None:
    sp = llm_span()
    body = sp.SerializeToString()
    assert edit_all(body, {}, []) == body
    assert edit_all(b"", {}, [("a", 1)]) == ld(9, ld(1, b"a") + ld(2, b"\x18\x01"))
    no_attributes = Span(name="x", status=Status(code=Status.STATUS_CODE_OK))
    no_attributes.events.add(name="e")
    expected = Span()
    expected.CopyFrom(no_attributes)
    expected.attributes.add(key="k").value.string_value = "v"
    assert edit_all(no_attributes.SerializeToString(), {}, [("k", "v")]) == expected.SerializeToString()


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("text", AnyValue(string_value="text")),
        ("", AnyValue(string_value="")),
        (False, AnyValue(bool_value=False)),
        (0, AnyValue(int_value=0)),
        (-1, AnyValue(int_value=-1)),
        (2**63 - 1, AnyValue(int_value=2**63 - 1)),
        (-0.0, AnyValue(double_value=-0.0)),
        (math.inf, AnyValue(double_value=math.inf)),
        (b"\x00\xff", AnyValue(bytes_value=b"\x00\xff")),
        (None, AnyValue(string_value="None")),  # as assign stores it: its str()
        (("a", 1), None),
        ([], None),
        ({"n": {"m": [1.5]}}, None),
        ({}, None),
    ],
)
def test_values_are_stored_as_assign_stores_them(value: Any, stored: AnyValue | None) -> None:
    kv = KeyValue(key="k")
    assign(kv.value, value)
    if stored is not None:
        assert kv.value == stored
    assert edit_all(b"", {}, [("k", value)]) == ld(9, kv.SerializeToString())


def test_an_edited_key_value_keeps_its_unknown_fields() -> None:
    unknown = bytes([0x18, 0x05])  # field 3, varint 5: not a KeyValue field today
    body = ld(9, ld(1, b"k") + unknown + ld(2, AnyValue(int_value=1).SerializeToString()))
    out = edit_all(body, {0: 2}, [])
    assert out == ld(9, ld(1, b"k") + ld(2, AnyValue(int_value=2).SerializeToString()) + unknown)


def test_a_copy_keeps_the_value_as_it_was_even_when_edited() -> None:
    sp = llm_span()
    out = edit_all(sp.SerializeToString(), {1: "new"}, [("orig", None, "gen_ai.request.model")])
    attrs = {kv.key: kv.value for kv in Span.FromString(out).attributes}
    assert attrs["gen_ai.request.model"].string_value == "new"
    assert attrs["orig"].string_value == "gpt-4o"


@pytest.mark.parametrize(
    ("edits", "appends", "error"),
    [
        ({5: None}, [], ("ValueError", "edit_attributes: position 5 is out of range (5 attributes)")),
        ({-1: None}, [], ("ValueError", "edit_attributes: position -1 is out of range (5 attributes)")),
        (
            {2**70: None},
            [],
            ("ValueError", f"edit_attributes: position {2**70} is out of range (5 attributes)"),
        ),
        (
            {1: "a", "gen_ai.request.model": "b"},
            [],
            ("ValueError", "edit_attributes: attribute 1 is edited twice"),
        ),
        ({True: None}, [], ("TypeError", "edit_attributes: an edit is keyed by int or str, not bool")),
        (
            {},
            [("x", None, "absent")],
            ("ValueError", "edit_attributes appends[0]: no attribute 'absent' to copy"),
        ),
        (
            {},
            [("x",)],
            ("TypeError", "edit_attributes appends[0] must be (key, value) or (key, None, source_key)"),
        ),
        (
            {},
            [["x", 1]],
            ("TypeError", "edit_attributes appends[0] must be (key, value) or (key, None, source_key)"),
        ),
        (
            {},
            [(1, 1)],
            ("TypeError", "edit_attributes appends[0] must be (key, value) or (key, None, source_key)"),
        ),
        (
            {},
            [("x", 1, "k")],
            ("TypeError", "edit_attributes appends[0] must be (key, value) or (key, None, source_key)"),
        ),
        ({}, [("x", 2**63)], ("ValueError", f"int value {2**63} is out of the int64 range")),
        ({0: -(2**63) - 1}, [], ("ValueError", f"int value {-(2**63) - 1} is out of the int64 range")),
    ],
)
def test_edits_that_do_not_fit_are_refused(
    edits: dict[Any, Any], appends: list[Any], error: tuple[str, str]
) -> None:
    assert edit_all(llm_span().SerializeToString(), edits, appends) == error


def test_malformed_spans_are_refused_as_the_reader_refuses_them() -> None:
    value = ld(2, AnyValue(int_value=1).SerializeToString())
    assert edit_all(ld(9, ld(1, b"k") + value + value), {}, []) == (
        "ValueError",
        "KeyValue.value given more than once (merge it with upb first)",
    )
    assert edit_all(b"\x4a\x05\x0a", {}, [])[0] == "ValueError"


@pytest.mark.parametrize("impl", IMPLS, ids=[m.__name__ for m in IMPLS])
def test_arguments_must_be_a_dict_and_a_list(impl: Any) -> None:
    with pytest.raises(TypeError):
        impl.edit_attributes(b"", [], [])
    with pytest.raises(TypeError):
        impl.edit_attributes(b"", {}, ())


def test_a_value_whose_str_changes_the_edits_is_safe() -> None:
    """str() of an odd value runs Python code: it may empty the caller's dict and list."""
    edits: dict[Any, Any] = {}
    appends: list[Any] = []

    class Rude:
        def __str__(self) -> str:
            edits.clear()
            appends.clear()
            return "rude"

    items: list[Any] = []

    class Leaving:
        def __str__(self) -> str:
            items.clear()  # drops itself from the list being encoded
            return "gone"

    sp = llm_span()
    for impl in IMPLS:
        edits.update({0: Rude(), 1: "x" * 1000})
        items[:] = [Leaving(), "never reached"]
        appends[:] = [("a", Rude()), ("b", "y" * 1000), ("c", items)]
        out = Span.FromString(impl.edit_attributes(sp.SerializeToString(), edits, appends))
        assert [kv.value.string_value for kv in out.attributes][:2] == ["rude", "x" * 1000]
        assert [kv.value.string_value for kv in out.attributes][-3:-1] == ["rude", "y" * 1000]
        assert [v.string_value for v in out.attributes[-1].value.array_value.values] == ["gone"]


# -- generated spans -------------------------------------------------------------------------------
def random_value(r: random.Random) -> Any:
    return r.choice(
        (
            "gpt-4o",
            "",
            "x" * 300,
            "ключ",
            True,
            False,
            0,
            -5,
            2**63 - 1,
            0.25,
            -0.0,
            b"\x01",
            ["stop", "length"],
            ("a", 2),
            {"k": 1},
            None,
        )
    )


def random_edits(r: random.Random, decoded: Span) -> tuple[dict[Any, Any], list[Any]]:
    n = len(decoded.attributes)
    edits: dict[Any, Any] = {}
    for position in range(n):
        if r.random() < 0.3:
            edits[position] = None if r.random() < 0.5 else random_value(r)
    edited = {i for i in edits}
    for _ in range(r.randrange(4)):
        key = r.choice(KEYS) if r.random() < 0.7 else f"llmpulse.new.{r.randrange(5)}"
        last = max((i for i, kv in enumerate(decoded.attributes) if kv.key == key), default=None)
        if last in edited or key in edits:
            continue
        if last is not None:
            edited.add(last)
        edits[key] = random_value(r) if r.random() < 0.85 else None
    keys = [kv.key for kv in decoded.attributes]
    appends: list[Any] = []
    for _ in range(r.randrange(5)):
        if keys and r.random() < 0.3:
            appends.append((f"llmpulse.original.{r.randrange(9)}", None, r.choice(keys)))
        else:
            appends.append((r.choice(KEYS), random_value(r)))
    return edits, appends


@settings(DIFFERENTIAL, max_examples=4_000)
@given(seed=SEEDS)
def test_edits_agree_with_the_same_edits_made_by_upb(seed: int) -> None:
    gen = Gen(seed)
    body = gen.span()
    decoded = Span.FromString(body)
    edits, appends = random_edits(gen.r, decoded)
    out = edit_all(body, edits, appends)
    expected = oracle(decoded, edits, appends)
    assert isinstance(out, bytes), out
    assert Span.FromString(out) == expected
    canonical = decoded.SerializeToString()
    if body == canonical:  # as upb encodes it: exactly upb's encoding of the edited span
        assert out == expected.SerializeToString()
    # and the same edits on upb's own encoding give upb's encoding of the result
    assert edit_all(canonical, edits, appends) == expected.SerializeToString()


def test_the_generated_edits_cover_every_kind_of_edit() -> None:
    counts = dict.fromkeys(("position", "key", "append", "copy", "canonical"), 0)
    for seed in range(500):
        gen = Gen(seed)
        body = gen.span()
        decoded = Span.FromString(body)
        edits, appends = random_edits(gen.r, decoded)
        counts["position"] += sum(isinstance(k, int) for k in edits)
        counts["key"] += sum(isinstance(k, str) for k in edits)
        counts["append"] += sum(len(item) == 2 for item in appends)
        counts["copy"] += sum(len(item) == 3 for item in appends)
        counts["canonical"] += body == decoded.SerializeToString()
    assert min(counts.values()) > 150, counts

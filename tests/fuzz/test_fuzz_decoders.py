"""Fuzz the OTLP decoders, one target each: ``decode_protobuf``, ``decode_json`` and ``gunzip``.

Each target's cases mix arbitrary bytes with mutations of valid requests (every captured
fixture, the benchmark load) and, for JSON, random documents made of OTLP field names. The
contract: the only exception that escapes is ``DecodeError``, its message says what is wrong
(bounded, it goes back to the client), and whatever does decode goes through the whole pipeline
without an exception (the receivers would otherwise answer INTERNAL for the whole batch).
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans

from benchmarks.loadgen import build_load
from llmpulse.otlp import (
    SIGNALS,
    DecodeError,
    EncodedTraces,
    decode_json,
    decode_protobuf,
    decode_request,
    gunzip,
    request_to_json,
)
from llmpulse.otlp.scan import NATIVE
from tests.fuzz._checks import Harness, assert_clear_refusal
from tests.fuzz._strategies import FUZZ, SEEDS, Gen

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "genai-captures"
HARNESS = Harness()


def _seeds() -> dict[str, list[bytes]]:
    if not FIXTURES.is_dir():
        raise FileNotFoundError(
            f"captured fixtures not found at {FIXTURES} (shared/ must sit beside the repo)"
        )
    seeds: dict[str, list[bytes]] = {signal: [] for signal in SIGNALS}
    for path in sorted(FIXTURES.glob("*/*.pb")):
        seeds[path.name.split(".")[-2]].append(path.read_bytes())
    seeds["traces"] += [b.body for b in build_load(batches=2, spans_per_batch=10, seed=5)]
    return seeds


def _first_item(signal: str, body: bytes) -> bytes:
    """The request cut to its first resource, scope and span / record / metric: a small seed,
    because OTLP/JSON parsing (protobuf's json_format) is pure Python and sets the pace here."""
    request: Any = decode_protobuf(signal, body)  # type: ignore[arg-type]
    small: Any
    if signal == "traces":
        small = ExportTraceServiceRequest()
        rs = small.resource_spans.add()
        rs.resource.CopyFrom(request.resource_spans[0].resource)
        ss = rs.scope_spans.add()
        ss.scope.CopyFrom(request.resource_spans[0].scope_spans[-1].scope)
        ss.spans.append(request.resource_spans[0].scope_spans[-1].spans[-1])
    elif signal == "logs":
        small = ExportLogsServiceRequest()
        rl = small.resource_logs.add()
        rl.resource.CopyFrom(request.resource_logs[0].resource)
        sl = rl.scope_logs.add()
        sl.log_records.append(request.resource_logs[0].scope_logs[0].log_records[0])
    else:
        small = ExportMetricsServiceRequest()
        rm = small.resource_metrics.add()
        sm = rm.scope_metrics.add()
        sm.metrics.append(request.resource_metrics[0].scope_metrics[0].metrics[0])
    return request_to_json(small)


SEEDS_PB = _seeds()
SEEDS_JSON = {s: [_first_item(s, body) for body in bodies] for s, bodies in SEEDS_PB.items()}


def test_the_seeds_are_real_requests() -> None:
    # mutations start from every captured fixture (all three signals) and the benchmark load
    assert all(len(SEEDS_PB[s]) >= 10 for s in SIGNALS)
    assert decode_protobuf("traces", SEEDS_PB["traces"][-1]).resource_spans
    for signal, documents in SEEDS_JSON.items():
        assert all(decode_json(signal, document).ByteSize() > 0 for document in documents)  # type: ignore[arg-type]


# -- protobuf ----------------------------------------------------------------------------------
def mutated(gen: Gen, seed: bytes) -> bytes:
    """Byte-level mutations as a coverage-guided fuzzer makes them: flips, cuts, splices."""
    r = gen.r
    data = bytearray(seed)
    for _ in range(r.randint(1, 4)):
        op = r.randrange(5)
        at = r.randint(0, max(len(data) - 1, 0))
        if op == 0 and data:
            data[at] = r.randrange(256)
        elif op == 1:
            del data[at:]
        elif op == 2:
            data[at:at] = r.randbytes(r.randint(1, 8))
        elif op == 3:
            del data[at : at + r.randint(1, 64)]
        else:  # a varint that claims a huge length or field number
            data[at:at] = r.choice([b"\xff\xff\xff\xff\x0f", b"\x80" * 10 + b"\x01", b"\x0a\xff\xff\xff\x7f"])
    return bytes(data)


@FUZZ
@given(signal=st.sampled_from(SIGNALS), data=st.one_of(st.binary(max_size=512), SEEDS))
def test_protobuf_decoder(signal: Any, data: bytes | int) -> None:
    """Arbitrary bytes, or a captured request with flips, cuts and splices."""
    if isinstance(data, int):
        gen = Gen(data)
        data = mutated(gen, gen.r.choice(SEEDS_PB[signal]))
    try:
        request = decode_protobuf(signal, data)
    except DecodeError as exc:
        assert_clear_refusal(exc, "protobuf")
        return
    HARNESS.consume(signal, request)


#: bytes that break UTF-8 (invalid, overlong, surrogate, past U+10FFFF, cut) or nest a message
_BREAKERS = [
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe4\xb8",
    b"\xc3\xa9",
    b"\x0b",
    b"\x4b",
]


def utf8_mutated(gen: Gen, seed: bytes) -> bytes:
    """A request with bytes that are not UTF-8 (or are, but not ASCII) written over a string's
    bytes, and a field of the wrong wire type or a group now and then: what check_traces must
    leave to upb."""
    r = gen.r
    data = bytearray(seed)
    for _ in range(r.randint(1, 3)):
        breaker = r.choice(_BREAKERS)
        for _ in range(20):  # mostly inside a string (letters all along), so the rest still parses
            at = r.randint(0, max(len(data) - 4, 0))
            if data[at : at + 4].isalpha():
                break
        data[at : at + len(breaker)] = breaker
    return bytes(data)


@pytest.mark.skipif(not NATIVE, reason="decode_request is upb's decode without the C module")
@FUZZ
@given(data=st.one_of(st.binary(max_size=512), SEEDS))
def test_trace_requests_kept_as_bytes_are_exactly_what_upb_decodes(data: bytes | int) -> None:
    """``decode_request`` keeps a request as its bytes only if upb decodes it, its layout is
    what upb reads, it refuses what upb refuses with upb's message, and the pipeline takes it."""
    if isinstance(data, int):
        gen = Gen(data)
        seed = gen.r.choice(SEEDS_PB["traces"])
        data = mutated(gen, seed) if gen.r.random() < 0.5 else utf8_mutated(gen, seed)
    try:
        upb = decode_protobuf("traces", data)
    except DecodeError as exc:
        with pytest.raises(DecodeError) as refused:
            decode_request("traces", data)
        assert str(refused.value) == str(exc)
        return
    request = decode_request("traces", data)
    if type(request) is EncodedTraces:
        assert [
            (a >= 0, Resource.FromString(data[a:b]) if a >= 0 else None, [(s[0], s[1]) for s in scopes])
            for a, b, scopes in request.layout
        ] == [
            (rs.HasField("resource"), rs.resource if rs.HasField("resource") else None,
             [(ss.scope.name, len(ss.spans)) for ss in rs.scope_spans])
            for rs in upb.resource_spans
        ]  # fmt: skip
        assert all(
            ScopeSpans.FromString(data[c:d]) == upb.resource_spans[i].scope_spans[j]
            for i, (_, _, scopes) in enumerate(request.layout)
            for j, (_, _, c, d) in enumerate(scopes)
        )
    else:
        assert request == upb
    HARNESS.consume("traces", request)


# -- OTLP/JSON ---------------------------------------------------------------------------------
#: stands for an integer literal too long for Python's int conversion (json.dumps cannot write it)
HUGE = "__huge_int__"
_OTLP_KEYS = [
    "resourceSpans", "resourceLogs", "resourceMetrics", "scopeSpans", "scopeLogs", "scopeMetrics",
    "spans", "logRecords", "metrics", "resource", "scope", "attributes", "key", "value", "stringValue",
    "intValue", "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values",
    "traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano", "endTimeUnixNano",
    "timeUnixNano", "events", "status", "code", "message", "body", "severityNumber", "gauge", "sum",
    "histogram", "dataPoints", "asInt", "asDouble", "trace_id", "span_id",
]  # fmt: skip
_LEAVES: list[Any] = [
    None, True, False, 0, -1, 1, 2**63, -(2**63) - 1, 2**64, 1.5, -0.0, 1e308, "", "-", "NaN",
    "Infinity", "1e309", "0" * 32, "ab" * 8, "AAAAAAAAAAA=", "0" * 31, "zz" * 16, "x" * 5000,
    "12345678901234567890123", HUGE, [], {}, {"stringValue": 1}, {"intValue": "9" * 30},
    {"doubleValue": "NaN"}, {"arrayValue": {}},
]  # fmt: skip
_TOKENS = [
    "{", "}", "[", "]", ":", ",", '"', "true", "null", "-", "0", "1e999", '"traceId"', '"resourceSpans"',
    '"spans"', '"attributes"', '"value"', '"intValue"', '"x"', "\\u0000", "\\ud800", " ", "\xff", "9" * 30,
]  # fmt: skip


def otlp_like(gen: Gen, depth: int = 0) -> Any:
    """A JSON document made of OTLP field names and OTLP-ish (or hostile) leaves."""
    r = gen.r
    if depth >= 6 or r.random() < 0.3:
        if r.random() < 0.6:
            leaf = r.choice(_LEAVES)
            return copy.deepcopy(leaf) if isinstance(leaf, (list, dict)) else leaf  # never shared
        return gen.json(3)
    if r.random() < 0.35:
        return [otlp_like(gen, depth + 1) for _ in range(r.randint(0, 3))]
    return {r.choice(_OTLP_KEYS): otlp_like(gen, depth + 1) for _ in range(r.randint(0, 4))}


def json_ish(gen: Gen) -> bytes:
    """Bytes that look like JSON to a tokenizer: mismatched brackets, stray escapes, bad UTF-8."""
    r = gen.r
    text = "".join(r.choice(_TOKENS) for _ in range(r.randint(0, 40)))
    return text.encode("utf-8", "surrogatepass") if r.random() < 0.9 else text.encode("utf-16")


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


_PATHS = {text: _paths(json.loads(text)) for texts in SEEDS_JSON.values() for text in texts}


def _dump(document: Any) -> bytes:
    return json.dumps(document).replace(f'"{HUGE}"', "9" * 4400).encode()


def json_case(gen: Gen, signal: str) -> bytes:
    r = gen.r
    kind = r.randrange(3)
    if kind == 0:
        return json_ish(gen)
    if kind == 1:  # a random document shaped like OTLP
        document = otlp_like(gen)
        if not isinstance(document, dict) and r.random() < 0.7:
            document = {"resourceSpans": document, "resourceLogs": document, "resourceMetrics": document}
        return _dump(document)
    text = r.choice(SEEDS_JSON[signal])  # a valid request, a few of its nodes replaced
    document, paths = json.loads(text), _PATHS[text]
    for _ in range(r.randint(1, 3)):
        try:
            document = _replace(document, r.choice(paths), otlp_like(gen, 3))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    return _dump(document)


@FUZZ
@given(signal=st.sampled_from(SIGNALS), data=st.one_of(st.binary(max_size=256), SEEDS))
def test_json_decoder(signal: Any, data: bytes | int) -> None:
    """Arbitrary bytes, JSON-looking token soup, random OTLP-shaped documents, mutated requests."""
    body = data if isinstance(data, bytes) else json_case(Gen(data), signal)
    try:
        request = decode_json(signal, body)
    except DecodeError as exc:
        assert_clear_refusal(exc, "JSON")
        return
    HARNESS.consume(signal, request)


# -- gzip --------------------------------------------------------------------------------------
@FUZZ
@given(
    data=st.one_of(st.binary(max_size=256), st.tuples(st.binary(max_size=1024), SEEDS)),
    limit=st.integers(0, 2048),
)
def test_gunzip(data: bytes | tuple[bytes, int], limit: int) -> None:
    """Arbitrary bytes are refused clearly or inflate within the limit. A compressed payload,
    intact, inflates to exactly itself (or is refused past the limit); cut short or with a
    flipped byte it is refused, never yielded silently partial."""
    if isinstance(data, bytes):
        try:
            assert len(gunzip(data, limit)) <= limit
        except DecodeError as exc:
            assert_clear_refusal(exc, "gzip")
        return
    payload, seed = data
    r = Gen(seed).r
    body = bytearray(gzip.compress(payload))
    damage = r.randrange(4)  # 0: intact, 1: cut, 2: flipped byte, 3: both
    if damage & 1:
        del body[r.randrange(len(body)) :]
    if damage & 2 and body:
        body[r.randrange(len(body))] ^= r.randint(1, 255)
    try:
        out = gunzip(bytes(body), limit)
    except DecodeError as exc:
        assert_clear_refusal(exc, "gzip")
        assert damage or len(payload) > limit
        return
    assert len(out) <= limit
    # only a flip in the header's informational bytes (mtime, XFL, OS) leaves the stream intact
    assert out == payload


@pytest.mark.parametrize("limit", [0, 1, 100])
def test_gzip_bomb_is_refused_at_the_limit(limit: int) -> None:
    with pytest.raises(DecodeError, match=f"inflates past the limit of {limit} bytes"):
        gunzip(gzip.compress(b"\0" * 1_000_000), limit)


def test_a_cut_gzip_body_is_refused_not_passed_on_short() -> None:
    body = gzip.compress(b"abc" * 1000)
    with pytest.raises(DecodeError, match="truncated"):
        gunzip(body[:-4], 10_000)  # only the length trailer missing

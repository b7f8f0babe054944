"""The span-metrics WAL line format: pickled rows read back as the same calls, JSON lines of
earlier versions still read (an upgrade keeps every counter), forged or torn lines refused."""

from __future__ import annotations

import binascii
import enum
import os
import pickle
import shutil
import zlib
from pathlib import Path

from prometheus_client import CollectorRegistry

from llmpulse.call import LLMCall
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SeriesSnapshot, SpanMetrics, StateStore
from llmpulse.spanmetrics._aggregate import journal_rows
from llmpulse.spanmetrics._state import _FIELDS, decode_batch, encode_batch

#: snapshot.json + wal-0000000002.log as llmpulse wrote them before the pickled journal (JSON
#: lines): one batch checkpointed into the snapshot, two batches after it only in the WAL
STATE_V1 = Path(__file__).parent / "testdata" / "state-v1"

ACME = {"service_name": "shop", "tenant": "acme"}
GPT = {**ACME, "gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai"}
MINI = {**GPT, "gen_ai_request_model": "gpt-4o-mini", "gen_ai_response_model": "gpt-4o-mini-2024-07-18"}
CLAUDE = {**ACME, "gen_ai_operation_name": "chat", "gen_ai_provider_name": "anthropic"}
CLAUDE |= {"gen_ai_request_model": "claude-sonnet-4"}
O3 = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "o3",
    "service_name": "shop",
}
EMBED = {
    "gen_ai_operation_name": "embeddings",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "text-embedding-3-small",
    "service_name": "search",
    "tenant": 'ünï "q"',
}


def _open(directory: Path) -> tuple[StateStore, SpanMetrics]:
    selfmetrics = SelfMetrics(CollectorRegistry())
    metrics = SpanMetrics(selfmetrics)
    store = StateStore(directory, metrics, selfmetrics, fsync="never")
    store.open()
    return store, metrics


def _series(metrics: SpanMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], SeriesSnapshot]:
    return {(s.metric.name, frozenset(s.labels)): s for s in metrics.snapshot()}


def _one(
    found: dict[tuple[str, frozenset[tuple[str, str]]], SeriesSnapshot], metric: str, **labels: str
) -> SeriesSnapshot:
    return found[(metric, frozenset(labels.items()))]


def _rich_calls() -> list[LLMCall]:
    return [
        LLMCall(
            dialect="openllmetry",
            operation="chat",
            provider="anthropic",
            request_model="claude-sonnet-4",
            service_name="shop",
            input_tokens=2085,
            output_tokens=12,
            cache_write_tokens=64,
            reasoning_tokens=0,
            streaming=True,
            ttft_s=0.125,
            duration_s=0.625,
            cost_usd=0.1 + 0.2,
            dimensions={"tenant": "acme"},
        ),
        LLMCall(
            dialect="openinference",
            operation="chat",
            request_model="o3",
            duration_s=30.0,
            error_class="timeout",
        ),
        LLMCall(dialect="semconv", streaming=False, dimensions={"tenant": 'ünï "q"\n'}),
    ]


def test_a_state_dir_written_before_the_pickled_journal_restores_every_value(tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(STATE_V1, state)
    # a pickled line cut short by kill -9 after the JSON ones: skipped, the rest replayed
    torn = encode_batch([LLMCall(dialect="semconv", operation="chat", input_tokens=99)])
    with (state / "wal-0000000002.log").open("ab") as f:
        f.write(torn[: len(torn) // 2])
    store, metrics = _open(state)
    assert (store.replayed_batches, store.corrupt_lines) == (2, 1)
    found = _series(metrics)
    assert _one(found, "gen_ai_client_tokens", **MINI, gen_ai_token_type="input").value == 1200
    assert _one(found, "gen_ai_client_tokens", **MINI, gen_ai_token_type="cache_read").value == 1024
    assert _one(found, "gen_ai_client_cost_usd", **MINI).value == 0.00039
    assert _one(found, "gen_ai_client_tokens", **CLAUDE, gen_ai_token_type="cache_write").value == 64
    assert _one(found, "gen_ai_client_tokens", **CLAUDE, gen_ai_token_type="reasoning").value == 0
    assert _one(found, "gen_ai_client_cost_usd", **CLAUDE).value == 0.30000000000000004
    ttft = _one(found, "gen_ai_client_operation_time_to_first_chunk", **CLAUDE)
    assert (ttft.count, ttft.total) == (1, 0.125)
    per_chunk = _one(found, "gen_ai_client_operation_time_per_output_chunk", **CLAUDE)
    assert (per_chunk.count, per_chunk.total) == (1, (0.625 - 0.125) / 11)
    failed = _one(found, "gen_ai_client_operation_duration", **O3, error_type="rate_limit")
    assert (failed.count, failed.total, failed.bucket_counts[-3:]) == (1, 30.0, (1, 0, 0))
    assert _one(found, "gen_ai_client_tokens", **EMBED, gen_ai_token_type="input").value == 7
    assert _one(found, "gen_ai_client_unpriced_operations", **EMBED).value == 1
    assert len(found) == 7 + 10 + 1 + 4  # gpt-4o-mini, claude (streamed), o3 (failed), embeddings

    # what the upgraded process journals next is a pickled line, replayed after a crash
    metrics.record([LLMCall(dialect="semconv", operation="embeddings", provider="openai",
                            request_model="text-embedding-3-small", service_name="search", input_tokens=5,
                            dimensions={"tenant": 'ünï "q"'})])  # fmt: skip
    (segment,) = [p for p in state.glob("wal-*.log") if p.stat().st_size]
    assert segment.read_bytes()[8:10] == b" P"
    store.release()
    again, restored = _open(state)
    assert (again.replayed_batches, again.corrupt_lines) == (1, 0)
    assert _one(_series(restored), "gen_ai_client_tokens", **EMBED, gen_ai_token_type="input").value == 12
    again.release()


def test_pickled_lines_read_back_as_the_very_same_calls() -> None:
    calls = _rich_calls()
    line = encode_batch(calls)
    crc, body = line[:8], line[9:-1]
    assert line[8:10] == b" P" and line.endswith(b"\n") and b"\n" not in body
    assert int(crc, 16) == zlib.crc32(body)
    again = decode_batch(line)
    assert again is not None
    kept = [name for name in LLMCall.__dataclass_fields__ if name in _FIELDS]
    assert len(kept) == len(_FIELDS) == 17
    assert [[getattr(c, k) for k in kept] for c in again] == [[getattr(c, k) for k in kept] for c in calls]
    assert [type(c.streaming) for c in again] == [bool, type(None), bool]
    # the compiled reader of the rows gives the columns ``_FIELDS`` names, in its order
    assert journal_rows(calls) == [tuple(getattr(c, name) for name in _FIELDS) for c in calls]
    # the fields span metrics never reads are not journaled
    assert decode_batch(encode_batch([LLMCall(dialect="x", response_id="r", failed=True)])) == [
        LLMCall(dialect="x")
    ]


class _Provider(enum.StrEnum):
    OPENAI = "openai"


class _Tokens(int):
    pass


def test_rows_holding_other_than_plain_builtins_are_written_as_json_as_before() -> None:
    calls = [LLMCall(dialect="semconv", provider=_Provider.OPENAI, input_tokens=_Tokens(3), duration_s=0.5)]
    line = encode_batch(calls)
    assert (
        line[8:]
        == b' [["semconv",null,"openai",null,null,null,{},0.5,null,3,null,null,null,null,null,null,null]]\n'
    )
    (call,) = decode_batch(line) or []
    assert (call.provider, type(call.provider), call.input_tokens, type(call.input_tokens)) == (
        "openai",
        str,
        3,
        int,
    )


def test_a_line_naming_a_class_or_function_is_refused_and_never_run(tmp_path: Path) -> None:
    class Forged:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(tmp_path / "ran"),))

    body = b"P" + binascii.b2a_base64(pickle.dumps([Forged()], 5), newline=False)
    assert decode_batch(b"%08x %s\n" % (zlib.crc32(body), body)) is None
    assert not (tmp_path / "ran").exists()
    # and a body that is not a list of 17-field rows is corrupt, not an error
    for rows in ([("semconv",)], {"a": 1}, [None]):
        body = b"P" + binascii.b2a_base64(pickle.dumps(rows, 5), newline=False)
        assert decode_batch(b"%08x %s\n" % (zlib.crc32(body), body)) is None
    good = encode_batch(_rich_calls())
    assert decode_batch(good[:-20] + b"\n") is None
    assert decode_batch(good.replace(b"P", b"P!", 1)) is None

"""The span-metrics state store: WAL before return, checkpoints, restore + replay after a crash,
torn lines, no re-journaling on replay, one owner per directory; and the disk queue's bounds."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from llmpulse.call import LLMCall
from llmpulse.remotewrite import DiskQueue, Segment
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics, StateDirInUse, StateStore

INPUT = {
    "gen_ai_operation_name": "chat",
    "gen_ai_request_model": "gpt-4o-mini",
    "gen_ai_token_type": "input",
}


def _call(tokens: int, model: str = "gpt-4o-mini") -> LLMCall:
    return LLMCall(
        dialect="semconv",
        operation="chat",
        request_model=model,
        input_tokens=tokens,
        output_tokens=1,
        duration_s=0.25,
        cost_usd=tokens * 1e-6,
        dimensions={"tenant": "acme"} if model != "gpt-4o-mini" else {},
    )


def _open(directory: Path, **kwargs: object) -> tuple[StateStore, SpanMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    selfmetrics = SelfMetrics(registry)
    metrics = SpanMetrics(selfmetrics)
    store = StateStore(directory, metrics, selfmetrics, **kwargs)  # type: ignore[arg-type]
    store.open()
    return store, metrics, registry


def _input(metrics: SpanMetrics) -> float:
    for s in metrics.snapshot():
        if s.metric.name == "gen_ai_client_tokens" and dict(s.labels) == INPUT:
            return s.value
    return 0.0


def test_every_batch_is_in_the_wal_when_record_returns_and_survives_a_crash(tmp_path: Path) -> None:
    store, metrics, _ = _open(tmp_path / "state")
    metrics.record([_call(10), _call(20)])
    metrics.record([_call(5, model="o3")])
    wal = [p for p in (tmp_path / "state").glob("wal-*.log") if p.stat().st_size]
    assert len(wal) == 1 and wal[0].read_bytes().count(b"\n") == 2
    store.release()  # a crash: no checkpoint, the lock goes with the process

    again, restored, _ = _open(tmp_path / "state")
    assert again.replayed_batches == 2
    assert _input(restored) == 30
    durations = [s for s in restored.snapshot() if s.metric.name == "gen_ai_client_operation_duration"]
    assert sum(s.count for s in durations) == 3
    assert {dict(s.labels).get("tenant") for s in durations} == {None, "acme"}
    # replay did not journal again: the fresh segment is empty and the snapshot holds it all
    assert [p.stat().st_size for p in (tmp_path / "state").glob("wal-*.log")] == [0]
    restored.record([_call(1)])
    again.release()
    third, m3, _ = _open(tmp_path / "state")
    assert _input(m3) == 31 and third.replayed_batches == 1
    third.release()


def test_checkpoint_truncates_the_wal_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    store, metrics, registry = _open(tmp_path / "state", fsync="always")
    for i in range(50):
        metrics.record([_call(i)])
    assert store.wal_bytes > 0
    store.checkpoint()
    assert store.wal_bytes == 0
    assert registry.get_sample_value("llmpulse_state_wal_bytes") == 0
    assert sum(p.stat().st_size for p in (tmp_path / "state").glob("wal-*.log")) == 0
    metrics.record([_call(1000)])
    store.release()
    (segment,) = [p for p in (tmp_path / "state").glob("wal-*.log") if p.stat().st_size]
    with segment.open("ab") as f:
        f.write(b'1234abcd [["semconv","chat"')  # killed in the middle of a write()
    again, restored, _ = _open(tmp_path / "state")
    assert (again.replayed_batches, again.corrupt_lines) == (1, 1)
    assert _input(restored) == sum(range(50)) + 1000
    again.release()


def test_one_process_per_directory(tmp_path: Path) -> None:
    store, _, _ = _open(tmp_path / "state")
    with pytest.raises(StateDirInUse, match=f"pid {os.getpid()}"):
        _open(tmp_path / "state")
    store.release()
    other, _, _ = _open(tmp_path / "state")
    other.release()


def test_periodic_task_checkpoints_and_close_leaves_nothing_to_replay(tmp_path: Path) -> None:
    async def run() -> None:
        store, metrics, _ = _open(tmp_path / "state", checkpoint_interval_s=0.2, fsync_interval_s=0.1)
        await store.start()
        metrics.record([_call(7)])
        await asyncio.sleep(1.3)
        assert store.wal_bytes == 0  # checkpointed by the task
        metrics.record([_call(8)])
        await store.close()
        assert metrics.journal is None

    asyncio.run(run())
    again, m, _ = _open(tmp_path / "state")
    assert again.replayed_batches == 0 and _input(m) == 15
    again.release()


def test_unreadable_snapshot_fails_fast_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "snapshot.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="move it aside"):
        _open(tmp_path / "state")


# -- the disk queue ----------------------------------------------------------------------------
def _fill(q: DiskQueue, kinds: str, size: int = 1000) -> list[Segment]:
    return [q.append("snap" if k == "s" else "final", 1000 + i, b"x" * size, 10) for i, k in enumerate(kinds)]


def test_thinning_halves_old_snapshots_and_keeps_finals_the_newest_and_the_one_in_flight(
    tmp_path: Path,
) -> None:
    q = DiskQueue(tmp_path / "q", capacity_bytes=10_000)
    segs = _fill(q, "ssfssssssssfs")  # 13 segments of 1000 bytes, 2 of them finals
    dropped: list[tuple[int, str]] = []
    q.thin(keep=segs[0], on_drop=lambda s, reason: dropped.append((s.seq, reason)))
    assert q.bytes <= 10_000
    kept = [s.seq for s in q.segments()]
    assert segs[0].seq in kept and segs[-1].seq in kept  # in flight, newest snapshot
    assert {segs[2].seq, segs[11].seq} <= set(kept)  # finals are never thinned
    assert all(reason == "thinned" for _, reason in dropped) and len(dropped) == 3
    assert q.samples == 10 * len(kept)
    # what is left is what a restart finds
    again = DiskQueue(tmp_path / "q", capacity_bytes=10_000)
    assert [s.seq for s in again.segments()] == kept and again.bytes == q.bytes
    assert again.append("snap", 5000, b"y", 1).seq == segs[-1].seq + 1


def test_too_old_snapshots_go_but_finals_stay(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q", capacity_bytes=1 << 20)
    segs = _fill(q, "sfsss")
    gone = q.drop_older_than(1003, keep=None)
    assert [s.seq for s in gone] == [segs[0].seq, segs[2].seq]
    assert [s.kind for s in q.segments()] == ["final", "snap", "snap"]
    assert q.newest_ts_ms() == 1004
    (tmp_path / "q" / "000000000099-snap-1-1.tmp").write_bytes(b"torn")
    assert len(DiskQueue(tmp_path / "q", capacity_bytes=1 << 20)) == 3
    assert not list((tmp_path / "q").glob("*.tmp"))

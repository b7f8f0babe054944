"""Several requests in flight per target (``forward.queue.consumers``): the queue hands each record
to one sender, takes acknowledgements in any order and moves its durable cursor only over the
acknowledged run from the oldest record; the target's senders share one backoff."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry

from llmpulse.config import ForwardTargetConfig
from llmpulse.config._model import ForwardQueueConfig, ForwardRetryConfig
from llmpulse.forward import DiskQueue, Entry, Target, UnreadableRecord
from llmpulse.selfmetrics import SelfMetrics
from tests.forward.sink import Failure, OTLPSink
from tests.forward.test_sender import logs_request, seqs

HEADER = 17
SIZE = 20_000


def record(i: int) -> bytes:
    return b"%04d" % i + b"." * (SIZE - 4)


def take(queue: DiskQueue) -> Entry:
    entry = queue.take(timeout=0)
    assert entry is not None
    return entry


def drain(queue: DiskQueue) -> list[int]:
    out = []
    while (entry := queue.take(timeout=0)) is not None:
        out.append(int(entry.payload[:4]))
        queue.ack(entry)
    return out


def test_take_hands_each_record_out_once_and_acks_in_any_order(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    for i in range(10):  # 3 records per 64 KiB segment: 0-2, 3-5, 6-8, 9
        queue.put("logs", 1, record(i))
    taken = [take(queue) for _ in range(7)]
    assert [int(e.payload[:4]) for e in taken] == list(range(7))
    for i in (6, 4, 3, 5, 1):  # everything but 0 and 2, out of order
        queue.ack(taken[i])
    assert queue.requests == 5  # 0, 2 in flight; 7, 8, 9 not taken
    assert queue.size_bytes == 10 * (HEADER + SIZE)  # the durable cursor has not moved
    assert len(list(tmp_path.glob("*.seg"))) == 4
    queue.ack(taken[0])  # the cursor passes 0 and 1, and stops at 2 (still in flight)
    assert queue.requests == 4 and queue.size_bytes == 8 * (HEADER + SIZE)
    assert len(list(tmp_path.glob("*.seg"))) == 4
    queue.close()

    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    # everything after the durable cursor again: 3-6 had been acknowledged ahead of 2 (duplicates)
    assert reopened.requests == 8 and reopened.corrupt_records == 0
    again = [take(reopened) for _ in range(8)]
    assert [int(e.payload[:4]) for e in again] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert reopened.take(timeout=0) is None
    for entry in reversed(again):  # newest first: nothing is durable until 2 is acknowledged
        reopened.ack(entry)
        if entry is not again[0]:
            assert len(list(tmp_path.glob("*.seg"))) == 4
    assert reopened.requests == 0 and reopened.size_bytes == 0
    assert len(list(tmp_path.glob("*.seg"))) == 1  # only the segment being written remains
    reopened.close()
    empty = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    assert empty.requests == 0 and drain(empty) == []
    empty.close()


def test_a_damaged_record_is_skipped_once_and_the_cursor_jumps_it(tmp_path: Path) -> None:
    """Two senders meet the same damaged record: only the first gives its segment up; the durable
    cursor passes the gap once the record taken before it is acknowledged."""
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024, memory_bytes=0)
    for i in range(7):  # segments: 0-2, 3-5, 6
        queue.put("logs", 1, record(i))
    first = take(queue)
    segment = sorted(tmp_path.glob("*.seg"))[0]
    with segment.open("r+b") as handle:  # bit rot in record 1
        handle.seek(first.end + HEADER + 10)
        handle.write(b"X")
    with pytest.raises(UnreadableRecord) as failed:
        queue.take(timeout=0)
    assert failed.value.position == (first.segment, first.end)
    assert queue.skip_unreadable(failed.value) == 2  # 1 and 2 given up
    assert queue.skip_unreadable(failed.value) == 0  # the second sender: already done
    assert queue.requests == 5  # 0 in flight, 3-6
    third = take(queue)
    assert int(third.payload[:4]) == 3
    queue.ack(third)
    assert len(list(tmp_path.glob("*.seg"))) == 3  # 0 still in flight holds the first segment
    queue.ack(first)
    assert len(list(tmp_path.glob("*.seg"))) == 2
    assert queue.requests == 3 and queue.size_bytes == 3 * (HEADER + SIZE)
    queue.close()
    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    assert reopened.corrupt_records == 0
    assert drain(reopened) == [4, 5, 6]
    reopened.close()


def make_target(
    tmp_path: Path, sink: OTLPSink, consumers: int, max_send_bytes: int = 0
) -> tuple[Target, CollectorRegistry]:
    """One request per export unless ``max_send_bytes`` says otherwise: these tests count calls."""
    registry = CollectorRegistry()
    target = Target(
        ForwardTargetConfig(endpoint=sink.endpoint, name="sink", timeout_s=5),
        ForwardQueueConfig(consumers=consumers, max_send_bytes=max_send_bytes),
        ForwardRetryConfig(initial_interval_s=0.05, max_interval_s=0.2),
        tmp_path,
        SelfMetrics(registry),
    )
    return target, registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"target": "sink", **labels}) or 0.0


@contextmanager
def drained(tmp_path: Path, sink: OTLPSink, consumers: int, requests: int) -> Iterator[CollectorRegistry]:
    """A target with ``requests`` logs requests queued (3 records each), started and waited on
    until its queue is empty; closed after the block."""
    target, registry = make_target(tmp_path, sink, consumers)
    for seq in range(requests):
        target.enqueue("logs", 3, logs_request(seq))
    target.start()
    try:
        assert sink.wait_for(lambda: value(registry, "llmpulse_forward_queue_requests") == 0, timeout=30)
        yield registry
    finally:
        target.close()


def test_four_consumers_keep_several_requests_in_flight_and_deliver_each_once(
    tmp_path: Path, sink: OTLPSink
) -> None:
    sink.delay_s = 0.05  # a slow collector
    with drained(tmp_path, sink, consumers=4, requests=40) as registry:
        assert Counter(seqs(sink)) == Counter(seq * 100 + i for seq in range(40) for i in range(3))
        assert sink.attempts == 40
        assert 1 < sink.max_in_flight <= 4
        assert value(registry, "llmpulse_forward_items_sent_total", signal="logs") == 120
        assert value(registry, "llmpulse_forward_queue_bytes") == 0
    assert len(list((tmp_path / "forward" / "sink").glob("*.seg"))) == 1


def test_one_consumer_sends_one_at_a_time_in_order(tmp_path: Path, sink: OTLPSink) -> None:
    sink.delay_s = 0.02
    with drained(tmp_path, sink, consumers=1, requests=15):
        assert seqs(sink) == [seq * 100 + i for seq in range(15) for i in range(3)]
        assert sink.max_in_flight == 1


def test_a_target_that_fails_holds_back_all_consumers_and_loses_nothing(
    tmp_path: Path, sink: OTLPSink
) -> None:
    failures = iter([grpc.StatusCode.UNAVAILABLE] * 6)
    sink.fail = lambda signal: Failure(next(failures, None))
    with drained(tmp_path, sink, consumers=4, requests=20) as registry:
        assert Counter(seqs(sink)) == Counter(seq * 100 + i for seq in range(20) for i in range(3))
        assert sink.attempts == 26  # 6 refused + 20 accepted
        assert value(registry, "llmpulse_forward_items_failed_total", signal="logs") == 18
        assert value(registry, "llmpulse_forward_items_sent_total", signal="logs") == 60


def test_close_stops_every_consumer_and_keeps_what_was_not_sent(tmp_path: Path, sink: OTLPSink) -> None:
    sink.fail = lambda signal: Failure(grpc.StatusCode.UNAVAILABLE)  # down for good
    target, _registry = make_target(tmp_path, sink, consumers=4)
    for seq in range(6):
        target.enqueue("logs", 3, logs_request(seq))
    target.start()
    assert sink.wait_for(lambda: sink.attempts >= 4)
    target.close(drain_s=0.2)
    assert all(not thread.is_alive() for thread in target._threads)
    reopened = DiskQueue(tmp_path / "forward" / "sink", capacity_bytes=1 << 20)
    assert reopened.requests == 6
    reopened.close()


def test_a_late_skip_never_gives_up_a_record_written_where_the_damaged_one_was(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, memory_bytes=0)
    queue.put("logs", 1, record(0))
    queue.put("logs", 1, record(1))
    first = take(queue)
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("r+b") as handle:  # bit rot in record 1, in the segment being written
        handle.seek(first.end + HEADER + 10)
        handle.write(b"X")
    errors = []
    for _sender in range(2):  # two senders meet it before either skips
        with pytest.raises(UnreadableRecord) as failed:
            queue.take(timeout=0)
        errors.append(failed.value)
    assert queue.skip_unreadable(errors[0]) == 1  # record 1: cut off the segment
    queue.put("logs", 1, record(2))  # lands where record 1 was
    assert queue.skip_unreadable(errors[1]) == 0  # the second sender's skip is stale
    queue.ack(first)
    assert drain(queue) == [2]
    queue.close()

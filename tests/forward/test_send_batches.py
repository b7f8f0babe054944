"""Requests queued one after another are sent as one export (``forward.queue.max_send_bytes``):
the queue hands them out together, the sender concatenates them (protobuf merges them), and each
is acknowledged on its own; a group refused for good is sent again request by request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from llmpulse.forward import DiskQueue, Entry
from tests.forward.sink import Failure, OTLPSink
from tests.forward.test_consumers import SIZE, make_target, record, value
from tests.forward.test_sender import logs_request, seqs

DROPPED = "llmpulse_forward_items_dropped_total"


def numbers(batch: list[Entry]) -> list[int]:
    return [int(entry.payload[:4]) for entry in batch]


def test_a_batch_is_the_requests_queued_one_after_another_up_to_max_bytes(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    for i in range(5):
        queue.put("logs", 1, record(i))
    first = queue.take_batch(0, max_bytes=3 * SIZE)
    second = queue.take_batch(0, max_bytes=3 * SIZE)
    assert (numbers(first), numbers(second)) == ([0, 1, 2], [3, 4])
    assert queue.take_batch(0, max_bytes=3 * SIZE) == []
    for entry in [*second, *first]:  # each acknowledged on its own, in any order
        queue.ack(entry)
    assert (queue.requests, queue.size_bytes) == (0, 0)
    queue.close()
    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    assert reopened.requests == 0 and reopened.take_batch(0, max_bytes=1 << 20) == []
    reopened.close()


def test_a_batch_holds_one_signal_and_a_larger_request_goes_alone(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, memory_bytes=0)  # read back from disk
    for i, signal in enumerate(("logs", "logs", "traces", "logs", "logs")):
        queue.put(signal, 1, record(i))  # type: ignore[arg-type]
    batches = [queue.take_batch(0, max_bytes=10 * SIZE) for _ in range(3)]
    assert [numbers(b) for b in batches] == [[0, 1], [2], [3, 4]]
    assert [b[0].signal for b in batches] == ["logs", "traces", "logs"]
    queue.put("logs", 1, record(5))
    queue.put("logs", 1, record(6))
    assert numbers(queue.take_batch(0, max_bytes=SIZE // 2)) == [5]  # over max_bytes alone
    assert numbers(queue.take_batch(0)) == [6]  # max_bytes 0: one request, as ``take``
    queue.close()


def test_a_batch_waits_up_to_wait_s_for_more_requests(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    queue.put("logs", 1, record(0))
    later = threading.Timer(0.1, lambda: queue.put("logs", 1, record(1)))
    later.start()
    started = time.monotonic()
    batch = queue.take_batch(0, max_bytes=10 * SIZE, wait_s=1.0)
    assert numbers(batch) == [0, 1]
    assert time.monotonic() - started >= 0.9  # waited its time: there was room for more
    queue.put("logs", 1, record(2))
    queue.put("logs", 1, record(3))
    # full before the wait is over: no waiting
    started = time.monotonic()
    assert numbers(queue.take_batch(0, max_bytes=2 * SIZE, wait_s=30.0)) == [2, 3]
    assert time.monotonic() - started < 5.0
    queue.close()


@contextmanager
def sent(tmp_path: Path, sink: OTLPSink, requests: int, records: int = 3) -> Iterator[CollectorRegistry]:
    """``requests`` logs requests queued before one sender starts (so they go as one export
    unless something splits them), waited on until the queue is empty; closed after the block."""
    target, registry = make_target(tmp_path, sink, consumers=1, max_send_bytes=1 << 20)
    for seq in range(requests):
        target.enqueue("logs", records, logs_request(seq, records=records))
    target.start()
    try:
        assert sink.wait_for(lambda: value(registry, "llmpulse_forward_queue_requests") == 0)
        yield registry
    finally:
        target.close()


def test_queued_requests_reach_the_collector_in_one_export(tmp_path: Path, sink: OTLPSink) -> None:
    with sent(tmp_path, sink, requests=10) as registry:
        assert sink.attempts == 1
        assert seqs(sink) == [seq * 100 + i for seq in range(10) for i in range(3)]
        assert value(registry, "llmpulse_forward_items_sent_total", signal="logs") == 30
        assert value(registry, "llmpulse_forward_queue_bytes") == 0


def test_a_batch_that_is_retried_is_counted_and_sent_whole(tmp_path: Path, sink: OTLPSink) -> None:
    failures = iter([grpc.StatusCode.UNAVAILABLE])
    sink.fail = lambda signal: Failure(next(failures, None))
    with sent(tmp_path, sink, requests=4) as registry:
        assert sink.attempts == 2
        assert seqs(sink) == [seq * 100 + i for seq in range(4) for i in range(3)]
        assert value(registry, "llmpulse_forward_items_failed_total", signal="logs") == 12
        assert value(registry, "llmpulse_forward_items_sent_total", signal="logs") == 12


def test_a_batch_refused_for_good_is_sent_again_request_by_request(tmp_path: Path, sink: OTLPSink) -> None:
    # the whole batch is refused, then its first request alone: only that one is dropped
    failures = iter([grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT])
    sink.fail = lambda signal: Failure(next(failures, None))
    with sent(tmp_path, sink, requests=4) as registry:
        assert sink.attempts == 5  # the batch, then each of its four requests
        assert seqs(sink) == [seq * 100 + i for seq in range(1, 4) for i in range(3)]
        assert value(registry, DROPPED, signal="logs", reason="permanent_error") == 3
        assert value(registry, "llmpulse_forward_items_sent_total", signal="logs") == 9


def test_a_batch_over_the_collectors_size_limit_is_sent_request_by_request(tmp_path: Path) -> None:
    size = len(logs_request(0, records=40))
    # grpc refuses a message over the limit (RESOURCE_EXHAUSTED, no RetryInfo: final) before
    # the handler runs; each request alone fits
    sink = OTLPSink(max_receive_bytes=int(size * 2.5)).start()
    try:
        with sent(tmp_path, sink, requests=4, records=40) as registry:
            assert sink.attempts == 4
            assert seqs(sink) == [seq * 100 + i for seq in range(4) for i in range(40)]
            assert value(registry, "llmpulse_forward_items_sent_total", signal="logs") == 160
            assert value(registry, DROPPED, signal="logs", reason="permanent_error") == 0
    finally:
        sink.stop()

"""One target's sender over the wire: each OTLP outcome of the sink → retry, drop or send, counted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from prometheus_client import CollectorRegistry

from llmpulse.config import ForwardTargetConfig
from llmpulse.config._model import ForwardQueueConfig, ForwardRetryConfig
from llmpulse.forward import Target, backoff_s
from llmpulse.otlp import set_attributes
from llmpulse.selfmetrics import SelfMetrics
from tests.forward.sink import Failure, OTLPSink


def logs_request(seq: int, records: int = 3) -> bytes:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for i in range(records):
        record = scope.log_records.add()
        set_attributes(record.attributes, {"test.seq": seq * 100 + i})
    return bytes(request.SerializeToString())


class Running:
    def __init__(self, target: Target, registry: CollectorRegistry) -> None:
        self.target = target
        self.registry = registry

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"target": "sink", **labels}) or 0.0


@pytest.fixture
def make_target(tmp_path: Path) -> Iterator[Any]:
    started: list[Target] = []

    def make(sink: OTLPSink, consumers: int = 1, max_send_bytes: int = 0, **retry: Any) -> Running:
        """One sender (requests in order) unless ``consumers`` says otherwise, and one request
        per export unless ``max_send_bytes`` does (these tests count calls)."""
        registry = CollectorRegistry()
        target = Target(
            ForwardTargetConfig(endpoint=sink.endpoint, name="sink", timeout_s=5),
            ForwardQueueConfig(consumers=consumers, max_send_bytes=max_send_bytes),
            ForwardRetryConfig(**{"initial_interval_s": 0.05, "max_interval_s": 0.2, **retry}),
            tmp_path,
            SelfMetrics(registry),
        )
        started.append(target)
        target.start()
        return Running(target, registry)

    yield make
    for target in started:
        target.close()


def seqs(sink: OTLPSink) -> list[int]:
    return [
        int(dict((kv.key, kv.value.int_value) for kv in r.attributes)["test.seq"])
        for _res, r in sink.log_records()
    ]


def test_unavailable_is_retried_until_accepted_and_order_is_kept(sink: OTLPSink, make_target: Any) -> None:
    failures = iter([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
    sink.fail = lambda signal: Failure(next(failures, None))
    running = make_target(sink)
    running.target.enqueue("logs", 3, logs_request(1))
    running.target.enqueue("logs", 3, logs_request(2))
    assert sink.wait_for(lambda: len(sink.log_records()) == 6)
    assert seqs(sink) == [100, 101, 102, 200, 201, 202]
    assert running.value("llmpulse_forward_items_failed_total", signal="logs") == 6  # two failed attempts x 3
    assert running.value("llmpulse_forward_items_sent_total", signal="logs") == 6
    assert running.value("llmpulse_forward_queue_requests") == 0


def test_permanent_error_drops_that_request_only(sink: OTLPSink, make_target: Any) -> None:
    failures = iter([grpc.StatusCode.INVALID_ARGUMENT])
    sink.fail = lambda signal: Failure(next(failures, None))
    running = make_target(sink)
    running.target.enqueue("logs", 3, logs_request(1))
    running.target.enqueue("logs", 3, logs_request(2))
    assert sink.wait_for(lambda: len(sink.log_records()) == 3)
    assert seqs(sink) == [200, 201, 202]
    assert running.value("llmpulse_forward_items_dropped_total", signal="logs", reason="permanent_error") == 3
    assert running.value("llmpulse_forward_items_failed_total", signal="logs") == 0


def test_resource_exhausted_is_retried_only_with_retry_info_and_its_delay_is_honoured(
    sink: OTLPSink, make_target: Any
) -> None:
    answers = iter(
        [
            Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after_s=0.6),
            None,
            Failure(grpc.StatusCode.RESOURCE_EXHAUSTED),
        ]
    )
    times: list[float] = []

    def fail(signal: str) -> Failure | None:
        times.append(time.monotonic())
        return next(answers, None)

    sink.fail = fail
    running = make_target(sink)
    running.target.enqueue("logs", 3, logs_request(1))  # throttled once, then accepted
    assert sink.wait_for(lambda: len(sink.log_records()) == 3)
    assert times[1] - times[0] >= 0.6  # the server's RetryInfo, not the 0.05 s backoff
    running.target.enqueue("logs", 3, logs_request(2))  # RESOURCE_EXHAUSTED without RetryInfo: permanent
    assert sink.wait_for(lambda: running.value("llmpulse_forward_items_dropped_total", signal="logs",
                                               reason="permanent_error") == 3)  # fmt: skip
    assert seqs(sink) == [100, 101, 102]


def test_partial_success_counts_the_rejected_items_as_dropped(sink: OTLPSink, make_target: Any) -> None:
    sink.fail = lambda signal: Failure(rejected=2)
    running = make_target(sink)
    running.target.enqueue("logs", 3, logs_request(1))
    assert sink.wait_for(lambda: running.value("llmpulse_forward_queue_requests") == 0 and sink.attempts == 1)
    assert running.value("llmpulse_forward_items_sent_total", signal="logs") == 1
    assert (
        running.value("llmpulse_forward_items_dropped_total", signal="logs", reason="rejected_by_target") == 2
    )


def test_max_elapsed_gives_up_and_counts(sink: OTLPSink, make_target: Any) -> None:
    sink.fail = lambda signal: Failure(grpc.StatusCode.UNAVAILABLE)
    running = make_target(sink, max_elapsed_s=0.5)
    running.target.enqueue("logs", 3, logs_request(1))
    assert sink.wait_for(
        lambda: (
            running.value("llmpulse_forward_items_dropped_total", signal="logs", reason="retry_exhausted")
            == 3
        ),
        timeout=10,
    )
    assert running.value("llmpulse_forward_queue_requests") == 0


def test_backoff_grows_to_the_cap_with_bounded_jitter() -> None:
    retry = ForwardRetryConfig(
        initial_interval_s=1, max_interval_s=10, multiplier=2, randomization_factor=0.5
    )
    assert [backoff_s(n, retry, rand=lambda: 0.5) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff_s(2, retry, rand=lambda: 0.0) == 2.0 and backoff_s(2, retry, rand=lambda: 1.0) == 6.0

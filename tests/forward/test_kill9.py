"""``llmpulse serve`` killed with SIGKILL while its collector is down: every record it had accepted
is in the forward queue under --data-dir and is delivered after the restart."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmpulse.otlp import attrs_to_dict, set_attributes
from tests.forward.sink import OTLPSink
from tests.support.process import start_serve

LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def one_record(seq: int) -> bytes:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = f"app log line {seq}"
    set_attributes(record.attributes, {"test.seq": seq})
    return bytes(request.SerializeToString())


def test_accepted_records_survive_kill_9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPULSE_FORWARD__RETRY__INITIAL_INTERVAL_S", "0.1")
    monkeypatch.setenv("LLMPULSE_FORWARD__RETRY__MAX_INTERVAL_S", "0.5")
    sink = OTLPSink()  # not started yet: the collector is down
    data = tmp_path / "data"
    proc, ports = start_serve(data, "--forward-otlp-endpoint", sink.endpoint)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}")
        export = channel.unary_unary(LOGS)
        for seq in range(30):
            export(one_record(seq), timeout=10)  # OK = accepted: it must not be lost
        channel.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    queue_dir = data / "forward" / sink.endpoint.replace(":", "_")
    assert list(queue_dir.glob("*.seg")), "nothing was queued on disk"

    sink.start()
    proc, ports = start_serve(data, "--forward-otlp-endpoint", sink.endpoint)
    try:
        delivered = sink.wait_for(
            lambda: len({r.attributes[0].value.int_value for _, r in sink.log_records()}) == 30
        )
        seqs = Counter(int(attrs_to_dict(r.attributes)["test.seq"]) for _res, r in sink.log_records())
        assert delivered, sorted(seqs)
        assert set(seqs) == set(range(30))
        assert sum(seqs.values()) == 30  # nothing had been sent before the kill: no duplicates either
    finally:
        proc.terminate()
        proc.wait(20)
        sink.stop()

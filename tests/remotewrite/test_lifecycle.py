"""The Gateway with remote write and the state store: stop without start, in-process start →
consume → stop, counters that continue on the same data dir, one gateway per data dir."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmpulse.call import LLMCall
from llmpulse.server import Gateway
from llmpulse.spanmetrics import StateDirInUse
from tests.remotewrite.receiver import Receiver
from tests.support.gateway import gateway_config


def _input_total(gw: Gateway) -> float:
    value = gw.registry.get_sample_value(
        "gen_ai_client_tokens_total",
        {"gen_ai_operation_name": "chat", "gen_ai_request_model": "m", "gen_ai_token_type": "input"},
    )
    return 0.0 if value is None else value


def test_stop_without_start_is_clean(tmp_path: Path) -> None:
    config = gateway_config(
        tmp_path / "data", remote_write={"targets": [{"url": "http://127.0.0.1:9/api/v1/write"}]}
    )
    gw = Gateway(config)
    asyncio.run(gw.stop())
    assert gw.remote_write is not None


def test_gateway_journals_sends_flushes_and_continues_on_the_same_data_dir(tmp_path: Path) -> None:
    async def run() -> tuple[Receiver, float, float]:
        receiver = await Receiver().start()
        config = gateway_config(
            tmp_path / "data",
            remote_write={"targets": [{"url": receiver.url, "name": "rx"}], "send_interval_s": 3600},
        )
        first = Gateway(config)
        await first.start()
        with pytest.raises(StateDirInUse):
            await Gateway(config).start()  # the same data dir twice: refused before serving
        first.spanmetrics.record(
            [LLMCall(dialect="semconv", operation="chat", request_model="m", input_tokens=5)]
        )
        await first.stop()  # the last snapshot goes out in stop()
        sent = _input_total(first)

        second = Gateway(config)
        await second.start()
        restored = _input_total(second)
        second.spanmetrics.record(
            [LLMCall(dialect="semconv", operation="chat", request_model="m", input_tokens=2)]
        )
        await second.stop()
        await receiver.stop()
        return receiver, sent, restored

    receiver, sent, restored = asyncio.run(run())
    assert (sent, restored) == (5, 5)
    values = [
        v[0][0]
        for r in receiver.received
        for k, v in r.series().items()
        if dict(k)["__name__"] == "gen_ai_client_tokens_total"
    ]
    assert values == [5.0, 7.0]  # one final send per stop, the second continuing from the first
    instances = {dict(k)["llmpulse_instance"] for r in receiver.received for k in r.series()}
    assert len(instances) == 1  # the same instance id on the same data dir

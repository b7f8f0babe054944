"""``benchmarks.grpc_receive``: a bare grpcio server really receives every batch it is sent."""

from __future__ import annotations

import re

import pytest

from benchmarks.grpc_receive import _option, main


@pytest.mark.parametrize("server", ["aio", "sync"])
def test_every_request_reaches_the_bare_server_and_its_cpu_is_reported(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # a failed call (refused, or over the receive limit) makes ``measure`` raise
    assert main(["--server", server, "--requests", "64", "--passes", "2", "--streams", "2"]) == 0
    out = capsys.readouterr().out
    assert "('grpc.http2.bdp_probe', 0)" in out  # the receiver's own options
    passes = re.search(r"passes \(ms of server CPU per request\): (\S+) (\S+)\n", out)
    assert passes is not None, out
    assert all(float(ms) > 0 for ms in passes.groups())  # 64 × 435 KiB: tens of ms, several CPU clock ticks


def test_server_options_are_name_value_pairs() -> None:
    assert _option("grpc.http2.lookahead_bytes=1048576") == ("grpc.http2.lookahead_bytes", 1048576)
    assert _option("grpc.primary_user_agent=bench") == ("grpc.primary_user_agent", "bench")
    with pytest.raises(Exception, match="name=value"):
        _option("grpc.http2.bdp_probe")

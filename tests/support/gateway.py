"""An llmpulse ``Gateway`` running in-process on free loopback ports, for tests.

The receivers, pipeline and /metrics endpoint are the real ones; the gateway runs its asyncio
loop in a background thread so a test can talk to it over gRPC and HTTP like any client, and
read its registry directly to assert exact metric deltas. A ``CaptureExporter`` records what the
pipeline hands to exporters (the enriched requests that would be forwarded).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from llmpulse.config import Config, validate
from llmpulse.otlp import Encoded, Signal
from llmpulse.pipeline import Exported
from llmpulse.server import Gateway
from tests.support.promstack import free_port


class CaptureExporter:
    """Keeps a copy of every request the pipeline exports."""

    name = "capture"

    def __init__(self) -> None:
        self.requests: list[tuple[Signal, Message]] = []
        #: what the pipeline handed over as each request's encoding (None: it must encode it)
        self.encodings: list[bytes | None] = []
        #: what the pipeline told of each request (``Exported``)
        self.exported: list[Exported | None] = []

    def admit(self, signal: Signal, size: int) -> None:
        return None

    def export(
        self, signal: Signal, request: Message, encoded: bytes | None = None, exported: Exported | None = None
    ) -> None:
        # the encoding, when given, is the request as the pipeline leaves it (LLM spans are
        # rewritten in their bytes, not in the decoded message): what exporters send
        # (a trace request from the receivers is an ``Encoded``: its bytes, decoded on demand)
        if encoded is not None:
            copy = (request.message_type if isinstance(request, Encoded) else type(request)).FromString(
                encoded
            )
        else:
            message = request.message if isinstance(request, Encoded) else request
            copy = type(message)()
            copy.CopyFrom(message)
        self.requests.append((signal, copy))
        self.encodings.append(encoded)
        self.exported.append(exported)

    def spans(self) -> list[Any]:
        return [
            span
            for signal, request in self.requests
            if signal == "traces"
            for rs in request.resource_spans  # type: ignore[attr-defined]
            for ss in rs.scope_spans
            for span in ss.spans
        ]


def gateway_config(data_dir: Path, **overrides: Any) -> Config:
    tree: dict[str, Any] = {
        "receivers": {
            "grpc": {"endpoint": f"127.0.0.1:{free_port()}"},
            "http": {"endpoint": f"127.0.0.1:{free_port()}"},
        },
        "metrics": {"endpoint": f"127.0.0.1:{free_port()}"},
        "data_dir": str(data_dir),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key] = {**tree[key], **value}
        else:
            tree[key] = value
    return validate(tree)


@contextmanager
def running_gateway(config: Config, capture: CaptureExporter | None = None) -> Iterator[Gateway]:
    """Start a gateway in a background thread; stop it (gracefully) on exit."""
    loop = asyncio.new_event_loop()
    gateway = Gateway(config, exporters=[capture] if capture is not None else None)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(gateway.start())
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="llmpulse-test-gateway", daemon=True)
    thread.start()
    started.wait(30)
    if failure:
        raise failure[0]
    try:
        yield gateway
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def endpoints(config: Config) -> dict[str, str]:
    return {
        "grpc": config.receivers.grpc.endpoint,
        "http": f"http://{config.receivers.http.endpoint}",
        "metrics": f"http://{config.metrics.endpoint}",
    }

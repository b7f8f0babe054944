"""The forwarding exporter: enriched traces and logs, and received metrics, to OTLP/gRPC targets.

It is an ``Exporter`` of the pipeline (``llmpulse.pipeline``): ``admit`` runs before the pipeline
touches a request and refuses it (``Backpressure``) when any target's queue has no room, so a
refused request had no effect and the client's retry is not double counted; ``export`` runs after
enrichment and writes the request to every target's persistent queue before the receiver answers.
The request is serialized once and shared by the targets; alert events are added on a copy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from llmpulse.config import ForwardConfig
from llmpulse.forward._alerts import AlertMarker
from llmpulse.forward._target import Push, Target
from llmpulse.otlp import Signal
from llmpulse.otlp.scan import find_any
from llmpulse.pipeline import Backpressure, Exported
from llmpulse.selfmetrics import SelfMetrics

log = logging.getLogger("llmpulse.forward")

#: room asked of a queue per byte received: enrichment adds attributes to the request
_GROWTH = 1.25
_OVERHEAD = 1024


def count_items(signal: Signal, request: Any) -> int:
    """Spans, log records or metric data points in an export request."""
    if signal == "traces":
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal == "logs":
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total


class ForwardExporter:
    """Forwards to every configured target through its persistent queue.

    >>> exporter = ForwardExporter(config.forward, config.data_dir, selfmetrics)
    >>> exporter.start()
    >>> gateway = Gateway(config, exporters=[exporter])
    """

    name = "forward"

    def __init__(
        self,
        config: ForwardConfig,
        data_dir: Path,
        selfmetrics: SelfMetrics,
        *,
        pushes: dict[str, Push] | None = None,
    ) -> None:
        self.config = config
        self.targets = [
            Target(
                target,
                config.queue,
                config.retry,
                data_dir,
                selfmetrics,
                push=(pushes or {}).get(target.name),
            )
            for target in config.targets
        ]
        self.alerts = AlertMarker(config.alert_classes, config.alert_severity)
        self._alert_needles = tuple(c.encode() for c in config.alert_classes)
        self._retry_after_s = config.queue.retry_after_s

    def start(self) -> None:
        for target in self.targets:
            target.start()

    def admit(self, signal: Signal, size: int) -> None:
        need = int(size * _GROWTH) + _OVERHEAD
        for target in self.targets:
            if signal in target.signals and not target.queue.has_room(need):
                raise Backpressure(
                    f"forward queue for target {target.name!r} is full "
                    f"({target.queue.size_bytes} of {target.queue.capacity_bytes} bytes): retry later",
                    self._retry_after_s,
                )

    def export(
        self, signal: Signal, request: Message, encoded: bytes | None = None, exported: Exported | None = None
    ) -> None:
        targets = [t for t in self.targets if signal in t.signals]
        wants_traces = any("traces" in t.signals for t in self.targets)
        if not targets and not (signal == "logs" and wants_traces):
            return
        items = count_items(signal, request) if exported is None else exported.items
        if items == 0:
            return
        payload = encoded if encoded is not None else request.SerializeToString()
        # the pipeline says which spans are failed calls and their classes (``Exported.failed``):
        # only those of an alerting class are read; else an alert needs an alerting class among
        # the written-back attributes, and one byte search of the encoded request (C speed)
        # spares walking every span when there is none
        failed = exported.failed if exported is not None and signal == "traces" else None
        if failed is not None:
            classes = self.alerts.classes
            alerting = any(error_class in classes for *_, error_class in failed)
        else:
            alerting = bool(self._alert_needles) and find_any(payload, self._alert_needles)
        if alerting and signal == "traces":
            payload = self.alerts.encode_marked(request, payload, failed)  # type: ignore[arg-type]
        for target in targets:
            target.enqueue(signal, items, payload)
        if alerting and signal == "logs" and wants_traces:
            carriers = self.alerts.carriers_for_logs(request)  # type: ignore[arg-type]
            if carriers is not None:
                self._enqueue("traces", carriers)

    def _enqueue(self, signal: Signal, request: Message) -> None:
        targets = [t for t in self.targets if signal in t.signals]
        items = count_items(signal, request)
        if not targets or items == 0:
            return
        payload = request.SerializeToString()
        for target in targets:
            target.enqueue(signal, items, payload)

    def close(self, drain_s: float = 2.0) -> None:
        """Stop the senders (giving healthy targets ``drain_s`` to catch up); queues stay on disk."""
        for target in self.targets:
            target.close(drain_s)

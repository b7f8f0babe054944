"""Forwarding to OpenTelemetry Collectors: OTLP/gRPC or OTLP/HTTP with a persistent, byte-bounded
queue per target, retry with backoff, at-least-once delivery and back-pressure instead of drops.

    ForwardExporter (pipeline Exporter: admit → Backpressure, export → every target's queue)
      └─ Target (one per forward.targets entry; forward.queue.consumers sender threads)
           ├─ DiskQueue  (<data_dir>/forward/<target>/: segments + cursor)
           └─ GrpcPush   (one Export call; OTLP retryable/permanent split, RetryInfo)
              or HttpPush (one POST /v1/<signal>; retryable 429/502/503/504, Retry-After)
    AlertMarker (llmpulse.alert events for the collector's alertmanager exporter)
"""

from llmpulse.forward._alerts import EVENT_NAME, AlertMarker
from llmpulse.forward._exporter import ForwardExporter, count_items
from llmpulse.forward._http_push import HttpPush
from llmpulse.forward._push import GrpcPush, PushResult, classify
from llmpulse.forward._queue import DiskQueue, Entry, QueueInUse, UnreadableRecord
from llmpulse.forward._target import Push, Target, backoff_s, queue_dir

__all__ = [
    "EVENT_NAME",
    "AlertMarker",
    "DiskQueue",
    "Entry",
    "ForwardExporter",
    "GrpcPush",
    "HttpPush",
    "Push",
    "PushResult",
    "QueueInUse",
    "Target",
    "UnreadableRecord",
    "backoff_s",
    "classify",
    "count_items",
    "queue_dir",
]

"""OTLP receivers (gRPC and HTTP) in front of the pipeline."""

from llmpulse.receiver._admission import (
    Admission,
    Overloaded,
    release_memory,
    resident_bytes,
    tune_allocator,
    tune_collector,
)
from llmpulse.receiver._common import TokenCheck
from llmpulse.receiver._grpc import GRPCReceiver
from llmpulse.receiver._http import HTTPReceiver

__all__ = [
    "Admission",
    "GRPCReceiver",
    "HTTPReceiver",
    "Overloaded",
    "TokenCheck",
    "release_memory",
    "resident_bytes",
    "tune_allocator",
    "tune_collector",
]

"""The remote-write 1.0 ``WriteRequest`` schema, built at run time (no generated module to drift).

Field numbers follow ``prometheus/prompb/{remote,types}.proto``:

    WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms

The hot path (``_encode.py``) writes these bytes by hand with cached label encodings; this
module is the reference it is tested against, and what decodes a request (tests, re-stamping).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

#: The NaN Prometheus reads as "this series ended" (value.StaleNaN), bit for bit.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale_nan(value: float) -> bool:
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def _build() -> dict[str, Any]:
    T = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="llmpulse/prometheus_remote.proto", package="prometheus", syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    message("Label", ("name", 1, T.TYPE_STRING, opt, ""), ("value", 2, T.TYPE_STRING, opt, ""))
    message("Sample", ("value", 1, T.TYPE_DOUBLE, opt, ""), ("timestamp", 2, T.TYPE_INT64, opt, ""))
    message(
        "TimeSeries",
        ("labels", 1, T.TYPE_MESSAGE, rep, ".prometheus.Label"),
        ("samples", 2, T.TYPE_MESSAGE, rep, ".prometheus.Sample"),
    )
    message(
        "WriteRequest",
        ("timeseries", 1, T.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in ("Label", "Sample", "TimeSeries", "WriteRequest")
    }


_CLASSES = _build()
WriteRequest: Any = _CLASSES["WriteRequest"]
TimeSeries: Any = _CLASSES["TimeSeries"]
Label: Any = _CLASSES["Label"]
Sample: Any = _CLASSES["Sample"]


def parse_write_request(data: bytes) -> Any:
    """Decode an uncompressed ``WriteRequest``."""
    request = WriteRequest()
    request.ParseFromString(data)
    return request

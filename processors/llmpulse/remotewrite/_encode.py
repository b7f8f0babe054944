"""Span-metrics snapshots and self-metrics → remote-write ``TimeSeries`` records (no I/O).

A ``WriteRequest`` is nothing but its ``timeseries`` field (number 1) repeated, so a run of
encoded records *is* a request body, and any slice of whole records is one too: the disk queue
stores records and the sender cuts requests out of them without re-encoding.

Each series' labels never change, so their encoding (sorted, ``__name__`` included, external
labels merged, empty values dropped) is cached with the record header in front of it; per send
only the 8-byte value and the timestamp are new. That is what makes ≥ 1 M series/s possible in
pure Python (``benchmarks/remote_write_encode.py``). The cache is bounded by bytes.

Histograms become classic ``_bucket{le}``/``_sum``/``_count`` series, counters ``_total``,
exactly as ``/metrics`` exposes them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate, chain

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from llmpulse.remotewrite._proto import STALE_NAN, parse_write_request
from llmpulse.spanmetrics import SeriesSnapshot
from llmpulse.spanmetrics import _contract as c

_pack = struct.Struct("<d").pack
Labels = Mapping[str, str] | Iterable[tuple[str, str]]


def le(bound: float) -> str:
    """A bucket bound as /metrics writes it (``0.01``, ``1.0``, ``+Inf``)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + varint(len(payload)) + payload


def label_pair(name: str, value: str) -> bytes:
    """One ``Label`` as it sits in a TimeSeries (field 1: name, value)."""
    return _field(0x0A, _field(0x0A, name.encode()) + _field(0x12, value.encode()))


class _Pairs(dict[tuple[str, str], bytes]):
    """Encoded label pairs (model names, services, tenants repeat across thousands of series),
    bounded: cleared when full."""

    def __init__(self, limit: int = 200_000) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, key: tuple[str, str]) -> bytes:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = label_pair(*key)
        return value


def _merge(labels: Labels, external: Mapping[str, str]) -> dict[str, str]:
    """External labels under the series' own (as Prometheus does), no empty name or value."""
    merged = dict(external)
    merged.update(labels.items() if isinstance(labels, Mapping) else labels)
    return {k: v for k, v in merged.items() if k and v}


def encode_labels(
    name: str, labels: Labels, external: Mapping[str, str], pairs: _Pairs | None = None
) -> bytes:
    """The ``labels`` field of a TimeSeries: sorted by name, unique, no empty name or value.

    Series labels win over external labels (as in Prometheus); ``__name__`` always wins.
    """
    merged = _merge(labels, external)
    merged["__name__"] = name
    pairs = pairs if pairs is not None else _Pairs()
    return b"".join([pairs[(k, merged[k])] for k in sorted(merged)])


def _head(label_blob: bytes, sample_len: int) -> bytes:
    """Everything of a one-sample record before its value: record tag+length, labels, sample
    tag+length, value tag."""
    body_len = len(label_blob) + 2 + sample_len
    return b"\x0a" + varint(body_len) + label_blob + b"\x12" + bytes((sample_len,)) + b"\x09"


@dataclass(frozen=True, slots=True)
class Encoded:
    """A run of TimeSeries records (a valid WriteRequest body) and how many it holds."""

    data: bytes
    series: int
    samples: int


class Encoder:
    """Encodes cumulative series with cached label encodings.

    >>> enc = Encoder({"llmpulse_instance": "pod-a"})
    >>> batch = enc.encode_snapshot(spanmetrics.snapshot(), ts_ms=1_700_000_000_000)
    >>> batch.series, len(batch.data)
    """

    def __init__(self, external_labels: Mapping[str, str], *, max_cache_bytes: int = 64 << 20) -> None:
        self.external = dict(external_labels)
        self._max_cache = max_cache_bytes
        #: self-metrics: record headers per series
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[bytes, ...]] = {}
        #: span metrics: (count or value, head + value chunks, bytes) per series
        self._rows: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[object, list[bytes], int]] = {}
        self._cache_bytes = 0
        self._sample_len = 0
        self._forget: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self._pairs = _Pairs()
        self._le = {b: le(b) for d in c.ALL for b in (*d.buckets, float("inf"))}

    def _series_names(self, d: c.MetricDef) -> tuple[str, ...]:
        base = d.name + (f"_{d.unit}" if d.unit else "")
        if d.kind == "counter":
            return (base + "_total",)
        return (base + "_bucket", base + "_sum", base + "_count")

    def _heads(
        self, d: c.MetricDef, labels: tuple[tuple[str, str], ...], sample_len: int
    ) -> tuple[bytes, ...]:
        names = self._series_names(d)
        pairs = self._pairs
        if d.kind == "counter":
            return (_head(encode_labels(names[0], labels, self.external, pairs), sample_len),)
        # Every row of a histogram has the same label names: sort once, swap __name__ and le.
        merged = _merge(labels, self.external)
        keys = sorted({*merged, "__name__", "le"})
        before = keys.index("le")
        head_keys, tail_keys = keys[:before], keys[before + 1 :]

        def blob(name: str, le_value: str | None) -> bytes:
            merged["__name__"] = name
            parts = [pairs[(k, merged[k])] for k in head_keys]
            if le_value is not None:
                parts.append(pairs[("le", le_value)])
            parts.extend(pairs[(k, merged[k])] for k in tail_keys)
            return b"".join(parts)

        heads = [_head(blob(names[0], self._le[b]), sample_len) for b in (*d.buckets, float("inf"))]
        heads.append(_head(blob(names[1], None), sample_len))
        heads.append(_head(blob(names[2], None), sample_len))
        return tuple(heads)

    def _timestamp(self, ts_ms: int) -> tuple[bytes, int]:
        """The sample's timestamp field and the sample's length; a longer timestamp varint
        changes every cached header, so the cache starts again."""
        tail = b"\x10" + varint(ts_ms)
        sample_len = 9 + len(tail)
        if sample_len != self._sample_len:
            self._cache.clear()
            self._rows.clear()
            self._cache_bytes = 0
            self._sample_len = sample_len
        return tail, sample_len

    def forget(self, snaps: Iterable[SeriesSnapshot]) -> None:
        """Drop cached encodings of series that expired (at the next encode, on its thread)."""
        self._forget.extend((s.metric.name, s.labels) for s in snaps)

    def _apply_forget(self) -> None:
        pending, self._forget = self._forget, []
        for key in pending:
            entry = self._rows.pop(key, None)
            if entry is not None:
                self._cache_bytes -= entry[2]

    def encode_snapshot(self, snaps: Iterable[SeriesSnapshot], ts_ms: int) -> Encoded:
        """One sample per series at ``ts_ms`` (cumulative values).

        Every row is ``head + value + T`` where ``T`` (the timestamp field) is the same for the
        whole send, so a series' rows are ``T.join(head_i + value_i) + T``. The ``head + value``
        chunks are cached per series and rebuilt only when the series changed since the last
        send (its count, or its value for a counter): an idle series costs one C-level join.
        """
        if self._forget:
            self._apply_forget()
        tail, sample_len = self._timestamp(ts_ms)
        rows = self._rows
        parts: list[bytes] = []
        append = parts.append
        pack = _pack
        n = 0
        for s in snaps:
            key = (s.metric.name, s.labels)
            counter = s.metric.kind == "counter"
            marker = s.value if counter else (s.count, s.total)
            entry = rows.get(key)
            if entry is not None and entry[0] == marker:
                chunks = entry[1]
            else:
                if entry is None:
                    heads: Iterable[bytes] = self._heads(s.metric, s.labels, sample_len)
                else:
                    heads = [chunk[:-8] for chunk in entry[1]]
                if counter:
                    values: Iterable[float] = (s.value,)
                else:
                    values = chain(accumulate(s.bucket_counts), (s.total, s.count))
                chunks = [head + pack(v) for head, v in zip(heads, values, strict=True)]
                size = sum(map(len, chunks)) + 200
                if entry is not None:
                    rows[key] = (marker, chunks, size)
                    self._cache_bytes += size - entry[2]
                elif self._cache_bytes + size <= self._max_cache:
                    rows[key] = (marker, chunks, size)
                    self._cache_bytes += size
            append(tail.join(chunks))
            append(tail)
            n += len(chunks)
        return Encoded(b"".join(parts), n, n)

    def encode_families(self, families: Iterable[Metric], ts_ms: int) -> Encoded:
        """Self-metrics (prometheus-client families), one sample per series at ``ts_ms``."""
        tail, sample_len = self._timestamp(ts_ms)
        parts: list[bytes] = []
        n = 0
        for family in families:
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                key = ("\x00" + sample.name, labels)
                heads = self._cache.get(key)
                if heads is None:
                    heads = (
                        _head(encode_labels(sample.name, labels, self.external, self._pairs), sample_len),
                    )
                    if self._cache_bytes < self._max_cache:
                        self._cache[key] = heads
                        self._cache_bytes += len(heads[0]) + 200
                parts.extend((heads[0], _pack(float(sample.value)), tail))
                n += 1
        return Encoded(b"".join(parts), n, n)

    def encode_final(self, snaps: Iterable[SeriesSnapshot], ts_ms: int) -> Encoded:
        """Expired series: the final cumulative value at ``ts_ms`` and the stale marker at
        ``ts_ms + 1``, in one record, so the last total can never be separated from its end."""
        out = bytearray()
        series = 0
        for s in snaps:
            names = self._series_names(s.metric)
            rows: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
            if s.metric.kind == "counter":
                rows.append((names[0], s.labels, s.value))
            else:
                cumulative = 0
                for bound, count in zip((*s.metric.buckets, float("inf")), s.bucket_counts, strict=True):
                    cumulative += count
                    rows.append((names[0], (*s.labels, ("le", le(bound))), float(cumulative)))
                rows.append((names[1], s.labels, s.total))
                rows.append((names[2], s.labels, float(s.count)))
            for name, labels, value in rows:
                out += record(
                    encode_labels(name, labels, self.external), ((value, ts_ms), (STALE_NAN, ts_ms + 1))
                )
                series += 1
        return Encoded(bytes(out), series, 2 * series)


def record(label_blob: bytes, samples: Iterable[tuple[float, int]]) -> bytes:
    """One TimeSeries record with any number of samples (the slow, general path)."""
    body = bytearray(label_blob)
    for value, ts in samples:
        body += _field(0x12, b"\x09" + _pack(value) + b"\x10" + varint(ts))
    return _field(0x0A, bytes(body))


def restamp(data: bytes, ts_ms: int) -> bytes:
    """The same records with fresh timestamps: the n-th sample of a series gets ``ts_ms + n``
    (a final value and its stale marker stay 1 ms apart). For values a receiver refused as too
    old: they are cumulative, so the newest value stamped now is still the right total."""
    request = parse_write_request(data)
    for series in request.timeseries:
        for n, sample in enumerate(series.samples):
            sample.timestamp = ts_ms + n
    return bytes(request.SerializeToString())


def split_records(data: bytes, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of each top-level record in ``data`` from ``start`` on."""
    pos = start
    size = len(data)
    while pos < size:
        if data[pos] != 0x0A:
            raise ValueError(f"not a TimeSeries record at offset {pos}")
        pos += 1
        length = 0
        shift = 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        begin = pos - 1 - (shift // 7 + 1)
        pos += length
        if pos > size:
            raise ValueError("truncated record")
        yield begin, pos

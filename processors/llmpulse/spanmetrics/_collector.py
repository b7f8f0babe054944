"""Expose the live aggregate to prometheus-client, so /metrics reads it at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from llmpulse.spanmetrics import _contract as c
from llmpulse.spanmetrics._aggregate import SpanMetrics


class SpanMetricsCollector(Collector):
    """A prometheus-client collector over ``SpanMetrics`` (no flush interval in between)."""

    def __init__(self, metrics: SpanMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for snap in self._metrics.snapshot():
            d = snap.metric
            base = d.name + (f"_{d.unit}" if d.unit else "")
            family = families.get(base)
            if family is None:
                family = families[base] = Metric(base, d.help, d.kind, d.unit)
            labels = dict(snap.labels)
            if d.kind == "counter":
                family.add_sample(base + "_total", labels, snap.value)
                continue
            cumulative = 0
            for bound, count in zip((*d.buckets, float("inf")), snap.bucket_counts, strict=True):
                cumulative += count
                family.add_sample(base + "_bucket", {**labels, "le": floatToGoString(bound)}, cumulative)  # type: ignore[no-untyped-call]
            family.add_sample(base + "_count", labels, snap.count)
            family.add_sample(base + "_sum", labels, snap.total)
        yield from families.values()

    def describe(self) -> Iterator[Metric]:
        for d in c.ALL:
            yield Metric(d.name + (f"_{d.unit}" if d.unit else ""), d.help, d.kind, d.unit)

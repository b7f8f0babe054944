"""Span metrics: canonical calls → the GenAI metrics of the DESIGN.md contract."""

from llmpulse.spanmetrics import _contract as contract
from llmpulse.spanmetrics._aggregate import OVERFLOW, LabelSet, SeriesSnapshot, SpanMetrics, base_labels
from llmpulse.spanmetrics._collector import SpanMetricsCollector

__all__ = [
    "OVERFLOW",
    "LabelSet",
    "SeriesSnapshot",
    "SpanMetrics",
    "SpanMetricsCollector",
    "base_labels",
    "contract",
]

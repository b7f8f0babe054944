"""Span metrics: canonical calls → the GenAI metrics of the DESIGN.md contract."""

from llmpulse.spanmetrics import _contract as contract
from llmpulse.spanmetrics._aggregate import OVERFLOW, LabelSet, SeriesSnapshot, SpanMetrics, base_labels
from llmpulse.spanmetrics._collector import SpanMetricsCollector
from llmpulse.spanmetrics._state import StateDirInUse, StateStore

__all__ = [
    "OVERFLOW",
    "LabelSet",
    "SeriesSnapshot",
    "SpanMetrics",
    "SpanMetricsCollector",
    "StateDirInUse",
    "StateStore",
    "base_labels",
    "contract",
]

"""Read llmpulse's ``/metrics`` into a :data:`Snapshot` (the ``--metrics-url`` mode).

Two snapshots a few seconds apart give rates without Prometheus, for a server where only
llmpulse runs. Parsing uses prometheus_client's own text parser, the format llmpulse serves.
"""

from __future__ import annotations

import math
import urllib.parse

from prometheus_client.parser import text_string_to_metric_families

from ._compute import SeriesKey, key
from ._http import get

#: Only the GenAI series are needed; skipping the rest keeps big expositions cheap.
PREFIX = "gen_ai_client_"


def metrics_url(url: str) -> str:
    """Accept ``host:port`` or a base URL and point it at ``/metrics``, the way users type it."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path="/metrics")
    return urllib.parse.urlunsplit(parts)


def parse(text: str) -> dict[SeriesKey, float]:
    """Samples of the GenAI metrics in a text exposition, keyed by name and labels."""
    out: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(PREFIX) and not math.isnan(sample.value):
                out[key(sample.name, sample.labels)] = float(sample.value)
    return out


def scrape(url: str, timeout_s: float = 10.0) -> dict[SeriesKey, float]:
    """GET and parse ``url`` (already normalised by :func:`metrics_url`)."""
    body = get(url, timeout_s, accept="text/plain;version=0.0.4")
    return parse(body.decode("utf-8", errors="replace"))

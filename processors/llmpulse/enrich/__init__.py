"""Enrichment: error class, cost, extra dimensions, redaction and the write-back onto spans."""

from llmpulse.enrich._cost import Price, PriceTable
from llmpulse.enrich._dimensions import DimensionReader
from llmpulse.enrich._errors import apply as apply_error_class
from llmpulse.enrich._errors import classify
from llmpulse.enrich._redact import (
    CONTENT_EVENTS,
    ContentMode,
    is_content_key,
    is_credential_key,
    redact_attributes,
    scrub_credential_values,
)
from llmpulse.enrich._writeback import canonical_attributes, write_back

__all__ = [
    "CONTENT_EVENTS",
    "ContentMode",
    "DimensionReader",
    "Price",
    "PriceTable",
    "apply_error_class",
    "canonical_attributes",
    "classify",
    "is_content_key",
    "is_credential_key",
    "redact_attributes",
    "scrub_credential_values",
    "write_back",
]

"""Enrichment: error class, cost, extra dimensions, redaction and the write-back onto spans."""

from llmpulse.enrich._cost import Price, PriceTable
from llmpulse.enrich._dimensions import DimensionReader, ResourceDimensions
from llmpulse.enrich._errors import apply as apply_error_class
from llmpulse.enrich._errors import classify
from llmpulse.enrich._redact import (
    CONTENT_EVENTS,
    REDACTED,
    ContentMode,
    is_content_key,
    is_credential_key,
    redact_attributes,
    scrub_credential_values,
)
from llmpulse.enrich._writeback import canonical_attributes, plan_write_back, write_back, written_attributes

__all__ = [
    "CONTENT_EVENTS",
    "REDACTED",
    "ContentMode",
    "DimensionReader",
    "Price",
    "PriceTable",
    "ResourceDimensions",
    "apply_error_class",
    "canonical_attributes",
    "classify",
    "is_content_key",
    "is_credential_key",
    "plan_write_back",
    "redact_attributes",
    "scrub_credential_values",
    "write_back",
    "written_attributes",
]

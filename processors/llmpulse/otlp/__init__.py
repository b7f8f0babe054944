"""OTLP plumbing shared by every stage: decoding requests and reading/writing attributes.

``llmpulse.otlp.scan`` reads span ids and attribute keys straight from a trace request's protobuf
bytes (a C extension, with a pure-Python twin): ordinary spans, most of them, never become Python
objects; only spans with LLM, credential or content keys or bad ids are visited through upb.
"""

from llmpulse.otlp._anyvalue import (
    AttributeAppends,
    AttributeEdits,
    assign,
    attrs_to_dict,
    plan_attributes,
    set_attributes,
    to_py,
    write_over,
)
from llmpulse.otlp._codec import (
    SIGNALS,
    DecodeError,
    Signal,
    decode_json,
    decode_protobuf,
    gunzip,
    new_request,
    request_to_json,
)
from llmpulse.otlp._encoded import Encoded, EncodedTraces, decode_request, resource_of

__all__ = [
    "SIGNALS",
    "AttributeAppends",
    "AttributeEdits",
    "DecodeError",
    "Encoded",
    "EncodedTraces",
    "Signal",
    "assign",
    "attrs_to_dict",
    "decode_json",
    "decode_protobuf",
    "decode_request",
    "gunzip",
    "new_request",
    "plan_attributes",
    "request_to_json",
    "resource_of",
    "set_attributes",
    "to_py",
    "write_over",
]

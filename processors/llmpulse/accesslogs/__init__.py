"""Access logs of meshes and AI gateways → canonical LLM calls (the log side of recognition).

``AccessLogReader`` is the pipeline's log-record stage; ``LogRecogniser`` applies the tables in
``llmpulse.dialects.logs``; ``parse_response``/``parse_request`` read provider payloads that a
gateway logged; ``route_of``/``provider_of_host`` read what the URL says.
"""

from llmpulse.accesslogs._bodies import BodyFacts, parse_request, parse_response
from llmpulse.accesslogs._reader import AccessLogReader, is_genai_event
from llmpulse.accesslogs._recognise import LogEvidence, LogRecogniser, Recognised
from llmpulse.accesslogs._redact import redact_record, scrub
from llmpulse.accesslogs._routes import host_of, provider_of_host, route_of
from llmpulse.accesslogs._view import LogView, view_of

__all__ = [
    "AccessLogReader",
    "BodyFacts",
    "LogEvidence",
    "LogRecogniser",
    "LogView",
    "Recognised",
    "host_of",
    "is_genai_event",
    "parse_request",
    "parse_response",
    "provider_of_host",
    "redact_record",
    "route_of",
    "scrub",
    "view_of",
]

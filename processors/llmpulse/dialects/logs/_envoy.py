"""Keys every Envoy-based access log shares (Istio sidecar JSON format, Envoy AI Gateway's
documented format, Higress), and Envoy's text format for OTel access logs whose body is a line.

Sources: Istio ``pilot/pkg/model/telemetry_logging.go`` (``EnvoyTextLogFormat`` 1.3 and 1.9+,
the JSON format's keys), Envoy's default format string, Envoy AI Gateway
``site/docs/capabilities/observability/accesslogs.md``. %DURATION% is milliseconds.
"""

from __future__ import annotations

import re

from llmpulse.dialects._spec import A, J, Source

DURATION: tuple[Source, ...] = (A("duration", scale=0.001),)
STATUS: tuple[Source, ...] = (A("response_code"), A(":status"), A("status"))
PATHS: tuple[Source, ...] = (A("path"), A("x-envoy-origin-path"), A("x_envoy_original_path"), A(":path"))
HOSTS: tuple[Source, ...] = (
    A("authority"),
    A(":authority"),
    A("requested_server_name"),
    A("upstream_cluster"),
    A("upstream_host"),
)
REQUEST_IDS: tuple[Source, ...] = (A("request_id"), A("x-request-id"), A("x_request_id"))
RESPONSE_FLAGS: tuple[Source, ...] = (A("response_flags"),)
ERROR_DETAILS: tuple[Source, ...] = (
    A("response_code_details"),
    A("upstream_transport_failure_reason"),
    A("connection_termination_details"),
)
#: where gateways that log bodies put them (Envoy Lua/Wasm filters, APISIX ``include_resp_body``)
RESPONSE_BODIES: tuple[Source, ...] = (
    A("response_body"),
    A("resp_body"),
    A("upstream_response_body"),
    A("http.response.body"),
    A("http.response.body.content"),
    J("response", ("body",)),
)
REQUEST_BODIES: tuple[Source, ...] = (
    A("request_body"),
    A("req_body"),
    A("http.request.body"),
    A("http.request.body.content"),
    J("request", ("body",)),
)

#: Istio's ``EnvoyTextLogFormat`` (1.3 and 1.9+) and Envoy's default format, which the Envoy
#: OpenTelemetry access logger sends as the record body. The groups use the JSON format's keys.
TEXT_FORMAT = re.compile(
    r'^\[(?P<start_time>[^\]]*)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]*)" '
    r"(?P<response_code>\d+) (?P<response_flags>\S+) "
    r"(?:(?P<response_code_details>[^\s\"]+) (?P<connection_termination_details>[^\s\"]+) )?"
    r'(?:"(?P<upstream_transport_failure_reason>[^"]*)" )*'
    r"(?P<bytes_received>\d+) (?P<bytes_sent>\d+) (?P<duration>\d+) (?P<upstream_service_time>\S+) "
    r'"(?P<x_forwarded_for>[^"]*)" "(?P<user_agent>[^"]*)" "(?P<request_id>[^"]*)" '
    r'"(?P<authority>[^"]*)" "(?P<upstream_host>[^"]*)"'
    r"(?: (?P<upstream_cluster>\S+))?"
)

#: %RESPONSE_FLAGS% (short and long forms) that mean the request failed, and the words that let
#: the error classifier (``enrich._errors``) name the cause. Flags not listed (``-``, ``NR`` for
#: "no route", informational ones) add no evidence of their own.
FAILURE_FLAGS: dict[str, str] = {
    "UT": "timeout: upstream request timeout (UT)",
    "UpstreamRequestTimeout": "timeout: upstream request timeout (UT)",
    "SI": "timeout: stream idle timeout (SI)",
    "StreamIdleTimeout": "timeout: stream idle timeout (SI)",
    "DT": "timeout: request duration exceeded (DT)",
    "DurationTimeout": "timeout: request duration exceeded (DT)",
    "UF": "connection error: upstream connection failure (UF)",
    "UpstreamConnectionFailure": "connection error: upstream connection failure (UF)",
    "UC": "connection error: upstream connection termination (UC)",
    "UpstreamConnectionTermination": "connection error: upstream connection termination (UC)",
    "UR": "connection error: upstream remote reset (UR)",
    "UpstreamRemoteReset": "connection error: upstream remote reset (UR)",
    "LR": "connection error: connection local reset (LR)",
    "LocalReset": "connection error: connection local reset (LR)",
    "UH": "server error: no healthy upstream (UH)",
    "NoHealthyUpstream": "server error: no healthy upstream (UH)",
    "UO": "rate limit: upstream overflow, circuit breaker open (UO)",
    "UpstreamOverflow": "rate limit: upstream overflow, circuit breaker open (UO)",
    "RL": "rate limit: rate limited by the proxy (RL)",
    "RateLimited": "rate limit: rate limited by the proxy (RL)",
    "URX": "server error: upstream retry limit exceeded (URX)",
    "UpstreamRetryLimitExceeded": "server error: upstream retry limit exceeded (URX)",
    "DC": "client disconnected before the response (DC)",
    "DownstreamConnectionTermination": "client disconnected before the response (DC)",
}

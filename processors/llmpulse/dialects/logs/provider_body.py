"""Gateway logs that carry the provider's response body (and maybe the request body), with no
LLM fields of their own: Envoy Lua/Wasm body logging, APISIX ``include_resp_body``
(``{"request": {...}, "response": {"status", "body"}, "latency"}``), or semconv HTTP
attributes. Model, usage, finish reasons and errors are read from the body (``accesslogs``
``_bodies``); status, latency (ms), path and host from the log.
"""

from __future__ import annotations

from llmpulse.dialects._spec import A, J
from llmpulse.dialects.logs import _envoy as envoy
from llmpulse.dialects.logs._spec import LogDialect

DIALECT = LogDialect(
    name="provider_body",
    fields={
        "duration_s": (*envoy.DURATION, A("latency", scale=0.001)),
        "http_status": (
            *envoy.STATUS,
            A("http.response.status_code"),
            J("response", ("status",)),
        ),
    },
    markers=(
        "response_body",
        "resp_body",
        "upstream_response_body",
        "http.response.body",
        "http.response.body.content",
    ),
    detect=lambda view: isinstance(view.attrs.get("response"), dict) and "body" in view.attrs["response"],
    paths=(
        *envoy.PATHS,
        A("url.path"),
        A("uri"),
        J("request", ("uri",)),
        A("url.full"),
        J("request", ("url",)),
    ),
    hosts=(*envoy.HOSTS, A("server.address"), A("host"), A("url.full"), J("request", ("url",))),
    request_ids=(*envoy.REQUEST_IDS, A("http.request.header.x-request-id")),
    error_details=envoy.ERROR_DETAILS,
    request_bodies=envoy.REQUEST_BODIES,
    response_bodies=envoy.RESPONSE_BODIES,
)

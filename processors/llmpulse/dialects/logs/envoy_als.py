"""Istio / Envoy OpenTelemetry access logs (``envoy.access_loggers.open_telemetry``).

Source: Envoy ``access_loggers/open_telemetry`` (``otlp_log_utils.cc``, substitution formatter)
and Istio's ``envoyOtelAls`` provider (reference §11d). The body is Istio's text line
(``EnvoyTextLogFormat``), the attributes are the operator's ``labels``; **every value is a
string** and a missing one is ``"-"``. LLM fields arrive only as labels the operator adds, e.g.
``request_model: "%FILTER_STATE(wasm.asm.llmproxy.request_model:PLAIN)%"``, so the ASM,
AI Gateway, semconv and short spellings are all accepted; method, path, status, duration,
request id and authority come from the text line when no label carries them.
"""

from __future__ import annotations

from llmpulse.dialects._spec import A
from llmpulse.dialects.logs import _envoy as envoy
from llmpulse.dialects.logs._spec import LogDialect, LogLike

_MODEL_LABELS = ("request_model", "genai_model_name", "gen_ai.request.model", "model")


def _text_line_with_llm_labels(view: LogLike) -> bool:
    return (
        view.text is not None
        and view.text.startswith("[")
        and any(key in view.attrs for key in _MODEL_LABELS)
        and envoy.TEXT_FORMAT.match(view.text) is not None
    )


DIALECT = LogDialect(
    name="envoy_als",
    fields={
        "request_model": tuple(A(key) for key in _MODEL_LABELS),
        "response_model": (A("gen_ai.response.model"), A("response_model")),
        "input_tokens": (
            A("request_prompt_tokens"),
            A("genai_tokens_input"),
            A("gen_ai.usage.input_tokens"),
            A("prompt_tokens"),
            A("input_tokens"),
        ),
        "output_tokens": (
            A("request_completion_tokens"),
            A("genai_tokens_output"),
            A("gen_ai.usage.output_tokens"),
            A("completion_tokens"),
            A("output_tokens"),
        ),
        "duration_s": envoy.DURATION,
        "http_status": envoy.STATUS,
    },
    detect=_text_line_with_llm_labels,
    text_format=envoy.TEXT_FORMAT,
    paths=envoy.PATHS,
    hosts=envoy.HOSTS,
    request_ids=envoy.REQUEST_IDS,
    response_flags=envoy.RESPONSE_FLAGS,
    error_details=envoy.ERROR_DETAILS,
    request_bodies=envoy.REQUEST_BODIES,
    response_bodies=envoy.RESPONSE_BODIES,
)

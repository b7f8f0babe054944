"""Every dashboard query, run against a real Prometheus fed by a real llmpulse, equals what was sent.

Scenario (one llmpulse, one Prometheus with the alerts/ recording rules at 1 s evaluation):

1. ``llmpulse top --metrics-url`` takes its first scrape; the known batch (llm_scenario.CALLS)
   is sent as OTLP spans; top's second scrape must show exactly that batch.
2. Once Prometheus holds the batch, the time of a sample is noted (``first_t``);
   the batch is sent again; once Prometheus holds both, llmpulse is frozen (SIGSTOP, so no more
   samples and no stale markers) and the last sample time is ``last_t``.
3. Panels are evaluated at ``last_t`` with ``$__range`` and ``$__rate_interval`` set to exactly
   ``last_t - first_t``. Both ends sit on samples, so PromQL does not extrapolate: increases and
   rates over the window are exactly the second batch, and must equal the ground truth.
4. Panels reading recording rules are compared with the same query on the raw series at a rule
   evaluation after the freeze (same data), since a fixed 5m rule window cannot be the batch.

llmpulse remote-writes the aggregate and its self-metrics every second, one timestamp per
snapshot, and forwards the enriched spans to a second llmpulse (a real OTLP/gRPC receiver), so
the pipeline dashboard's exporter panels have data too.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.generate import panels_of, render
from llmpulse.top import ModelStats, cells
from tests.dashboards.llm_scenario import ALL, CALLS, FINETUNE, HAIKU, MINI, Truth, send, send_refused
from tests.support.process import start_serve
from tests.support.promstack import Prometheus, stop_process, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "prometheus_rules.yaml"
DASHBOARDS = ROOT / "dashboards"
SEND_INTERVAL_S = 1.0
N = ALL.count
MODEL = "gen_ai_request_model"
PROVIDER = "gen_ai_provider_name"


@dataclass
class Stack:
    prom: Prometheus
    metrics_url: str
    top_metrics: dict[str, Any]  # `top --metrics-url --json` over the first batch
    first_t: float
    last_t: float
    rules_t: float  # a recording-rule evaluation that saw all data
    duration_bounds: list[float]
    ttft_bounds: list[float]
    tpot_bounds: list[float]

    @property
    def window_s(self) -> float:
        return round((self.last_t - self.first_t) * 1000) / 1000

    @property
    def window(self) -> str:
        return f"{round((self.last_t - self.first_t) * 1000)}ms"


@dataclass(frozen=True)
class Endpoints:
    grpc: str  # host:port
    http: str  # base URL
    metrics: str  # /metrics URL


def _prometheus(work: Path) -> Prometheus:
    """Prometheus with the remote-write receiver and the alerts/ rules at 1 s evaluation."""
    return Prometheus.start(work / "prom", rule_files=[RULES], evaluation_interval="1s")


def _stop(proc: subprocess.Popen[str]) -> str:
    """Stop llmpulse (thawing it first if frozen) and return what it printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
    stop_process(proc)  # type: ignore[arg-type]
    return proc.stdout.read()[-3000:] if proc.stdout else ""


def _top(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llmpulse", "top", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for_line(stream: Any, needle: str, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return line
    raise TimeoutError(f"no {needle!r} within {timeout}s; got {seen}")


def _calls_in_prometheus(prom: Prometheus) -> float:
    return prom.query_value("sum(gen_ai_client_operation_duration_seconds_count)") or 0.0


def _latest_sample_t(prom: Prometheus) -> float:
    t = prom.query_value("max(timestamp(gen_ai_client_operation_duration_seconds_count))")
    assert t is not None
    return t


def _bounds(prom: Prometheus, metric: str) -> list[float]:
    les = {float(s["le"]) for s in prom.series(metric + "_bucket")}
    return sorted(b for b in les if not math.isinf(b))


def _scenario(prom: Prometheus, proc: subprocess.Popen[str], ep: Endpoints) -> Stack:
    # 1. `top --metrics-url` measures the first batch between its two scrapes.
    top = _top("--metrics-url", ep.metrics, "--interval", "4", "--once", "--json")
    try:
        _wait_for_line(top.stderr, "first scrape", timeout=30)
        send(ep.grpc, CALLS)
        send_refused(ep.http)
        out, err = top.communicate(timeout=60)
        assert top.returncode == 0, err
    finally:
        if top.poll() is None:
            top.kill()
            top.wait()
    top_metrics = json.loads(out)

    # 2. A sample holding exactly the first batch starts the window; the second batch fills it.
    wait_until(lambda: _calls_in_prometheus(prom) == N, timeout=60, what="first batch in Prometheus")
    time.sleep(2 * SEND_INTERVAL_S)
    first_t = _latest_sample_t(prom)
    send(ep.grpc, CALLS)
    send_refused(ep.http)
    wait_until(lambda: _calls_in_prometheus(prom) == 2 * N, timeout=60, what="second batch in Prometheus")
    time.sleep(2 * SEND_INTERVAL_S)
    proc.send_signal(signal.SIGSTOP)  # freeze: nothing more is written, nothing goes stale
    time.sleep(1.0)
    frozen = time.time()
    last_t = _latest_sample_t(prom)
    rule = "max(timestamp(llm:gen_ai_client_operation_duration_seconds_count:rate5m))"
    rules_t = wait_until(
        lambda: (t := prom.query_value(rule)) is not None and t > frozen + 0.5 and t,
        timeout=30,
        what="a rule evaluation after the freeze",
    )
    return Stack(
        prom,
        ep.metrics,
        top_metrics,
        first_t,
        last_t,
        float(rules_t),
        _bounds(prom, "gen_ai_client_operation_duration_seconds"),
        _bounds(prom, "gen_ai_client_operation_time_to_first_chunk_seconds"),
        _bounds(prom, "gen_ai_client_operation_time_per_output_chunk_seconds"),
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("dashboards-e2e")
    config = work / "llmpulse.yaml"
    config.write_text(yaml.safe_dump({"remote_write": {"send_interval_s": SEND_INTERVAL_S}}))
    serve = ("--config", str(config))
    with contextlib.ExitStack() as cleanup:
        prom = cleanup.enter_context(_prometheus(work))
        sink, sink_ports = start_serve(work / "sink")  # where llmpulse forwards enriched spans
        cleanup.callback(_stop, sink)
        proc, ports = start_serve(
            work / "data",
            *serve,
            "--remote-write-url",
            prom.remote_write_url,
            "--forward-otlp-endpoint",
            f"127.0.0.1:{sink_ports['grpc']}",
        )
        cleanup.callback(_stop, proc)
        ep = Endpoints(
            f"127.0.0.1:{ports['grpc']}",
            f"http://127.0.0.1:{ports['http']}",
            f"http://127.0.0.1:{ports['metrics']}/metrics",
        )
        try:
            result = _scenario(prom, proc, ep)
        except (TimeoutError, AssertionError) as e:
            raise AssertionError(f"{e}\n--- llmpulse output ---\n{_stop(proc)}") from e
        yield result


# --- the panels --------------------------------------------------------------------------------

ALL_VARS = {"service": ".*", "provider": ".*", "model": ".*", "tenant": ".*", "namespace": ".*"}


@dataclass(frozen=True)
class Target:
    file: str
    panel: str
    ref: str
    expr: str


def _targets() -> list[Target]:
    out = []
    for name in sorted(render()):
        doc = json.loads((DASHBOARDS / name).read_text())
        for panel in panels_of(doc):
            for t in panel["targets"]:
                out.append(Target(name, panel["title"], t["refId"], t["expr"]))
    return out


TARGETS = _targets()


def _find(file: str, panel: str, ref: str = "A") -> Target:
    return next(t for t in TARGETS if t.file == f"llmpulse-{file}.json" and t.panel == panel and t.ref == ref)


def substitute(expr: str, window: str, variables: Mapping[str, str] = ALL_VARS) -> str:
    """What Grafana sends: the range/interval macros and the filter variables filled in."""
    out = expr.replace("$__rate_interval", window).replace("$__range", window)
    for name, value in variables.items():
        out = out.replace(f'"${name}"', f'"{value}"')
    assert "$" not in out, out
    return out


LabelSet = tuple[tuple[str, str], ...]
Result = dict[LabelSet, float]


def of_model(model: str) -> Truth:
    return ALL.where(lambda c: c.model == model)


def of_service(service: str) -> Truth:
    return ALL.where(lambda c: c.service == service)


def run(stack: Stack, t: Target, at: float | None = None, variables: Mapping[str, str] = ALL_VARS) -> Result:
    result = stack.prom.query(
        substitute(t.expr, stack.window, variables), at=stack.last_t if at is None else at
    )
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def keyed(result: Result, *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(dict(k).get(label, "") for label in labels): v for k, v in result.items()}


def scalar(result: Result) -> float:
    assert len(result) == 1, result
    return next(iter(result.values()))


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


#: Pipeline panel targets (title, refId) with no series in this scenario, and why. Listed so the
#: list cannot go stale: each must be empty, everything else must have data.
EXPECTED_EMPTY = {
    ("Overflow series in Prometheus", "A"): "no metric exceeds its series budget",
    ("Cardinality overflow per second by metric", "A"): "no overflow",
    ("Expired series per second by metric", "A"): "nothing idles for series_idle_timeout",
    ("Duplicate spans skipped per second", "A"): "no span describes a call twice",
    ("Remote-write samples dropped per second", "A"): "Prometheus accepts everything",
    ("OTLP items forwarded per second", "B"): "no forward attempt fails",
    ("OTLP items dropped per second", "A"): "the forward target accepts everything",
}


def test_every_panel_query_parses_and_has_data(stack: Stack) -> None:
    problems = []
    for t in TARGETS:
        try:
            result = run(stack, t)
        except RuntimeError as e:  # Prometheus refused the query
            problems.append(f"{t.file} / {t.panel} / {t.ref}: {e}")
            continue
        empty_expected = t.file == "llmpulse-pipeline.json" and (t.panel, t.ref) in EXPECTED_EMPTY
        if bool(result) == empty_expected:
            problems.append(f"{t.file} / {t.panel} / {t.ref}: {'data' if result else 'no data'}: {t.expr}")
    assert problems == []
    assert len(TARGETS) > 90


@dataclass(frozen=True)
class Keyed:
    """Expected value per series, the series named by the values of ``labels``."""

    labels: tuple[str, ...]
    values: dict[tuple[str, ...], float]


def _per_model(f: Callable[[Truth], float], skip: Callable[[float], bool] = lambda v: False) -> Keyed:
    out = {(c.provider, c.model): f(of_model(c.model)) for c in CALLS}
    return Keyed((PROVIDER, MODEL), {k: v for k, v in out.items() if not skip(v)})


def _by_model(f: Callable[[Truth], float]) -> Keyed:
    return Keyed((MODEL,), {(m,): f(of_model(m)) for m in (MINI, HAIKU, FINETUNE)})


def _by_service(f: Callable[[Truth], float]) -> Keyed:
    tenants = {"chat-api": "acme", "batch-worker": "globex"}
    return Keyed(
        ("service_name", "tenant"),
        {(svc, tenant): f(of_service(svc)) for svc, tenant in tenants.items()},
    )


def _expectations(s: Stack) -> dict[tuple[str, str, str], float | Keyed]:
    W = s.window_s
    D, T, P = s.duration_bounds, s.ttft_bounds, s.tpot_bounds
    priced = _per_model(lambda t: t.cost, skip=lambda v: v == 0)
    return {
        # LLM overview
        ("overview", "Requests per minute", "A"): N / W * 60,
        ("overview", "Tokens per minute", "A"): ALL.tokens() / W * 60,
        ("overview", "Failure rate", "A"): ALL.failed / N,
        ("overview", "p95 duration", "A"): ALL.quantile(0.95, "duration", D),
        ("overview", "p95 time to first token", "A"): ALL.quantile(0.95, "ttft", T),
        ("overview", "Spend", "A"): ALL.cost,
        ("overview", "Top models", "A"): _per_model(lambda t: t.count),
        ("overview", "Top models", "B"): _per_model(lambda t: t.count / W * 60),
        ("overview", "Top models", "C"): _per_model(lambda t: t.tokens()),
        ("overview", "Top models", "D"): priced,
        ("overview", "Top models", "E"): _per_model(lambda t: t.failed / t.count),
        ("overview", "Top models", "F"): _per_model(lambda t: t.quantile(0.95, "duration", D)),
        ("overview", "Top models", "G"): _per_model(lambda t: t.quantile(0.95, "ttft", T), skip=math.isnan),
        # tokens and cost
        ("tokens-cost", "Spend", "A"): ALL.cost,
        ("tokens-cost", "Input tokens", "A"): ALL.tokens("input"),
        ("tokens-cost", "Output tokens", "A"): ALL.tokens("output"),
        ("tokens-cost", "Cached share of input", "A"): ALL.tokens("cache_read") / ALL.tokens("input"),
        ("tokens-cost", "Tokens per request", "A"): ALL.tokens() / ALL.with_usage,
        ("tokens-cost", "Unpriced calls", "A"): 1.0,
        ("tokens-cost", "Cost by model", "A"): priced,
        ("tokens-cost", "Cost by model", "B"): _per_model(lambda t: t.count),
        ("tokens-cost", "Cost by model", "C"): _per_model(lambda t: t.tokens("input")),
        ("tokens-cost", "Cost by model", "D"): _per_model(lambda t: t.tokens("output")),
        ("tokens-cost", "Cost by model", "E"): _per_model(
            lambda t: t.tokens("cache_read"), skip=lambda v: v == 0
        ),
        ("tokens-cost", "Cost by model", "F"): Keyed((PROVIDER, MODEL), {("openai", FINETUNE): 1.0}),
        ("tokens-cost", "Cost by service and tenant", "A"): _by_service(lambda t: t.cost),
        ("tokens-cost", "Cost by service and tenant", "B"): _by_service(lambda t: t.tokens()),
        ("tokens-cost", "Cost by service and tenant", "C"): _by_service(lambda t: t.count),
        ("tokens-cost", "Tokens per request by model", "A"): _by_model(
            lambda t: t.tokens("input") / t.with_usage
        ),
        ("tokens-cost", "Tokens per request by model", "B"): _by_model(
            lambda t: t.tokens("output") / t.with_usage
        ),
        # latency
        ("latency", "p50 duration", "A"): ALL.quantile(0.5, "duration", D),
        ("latency", "p95 duration", "A"): ALL.quantile(0.95, "duration", D),
        ("latency", "p99 duration", "A"): ALL.quantile(0.99, "duration", D),
        ("latency", "p95 time to first token", "A"): ALL.quantile(0.95, "ttft", T),
        ("latency", "p95 time per output token", "A"): ALL.quantile(0.95, "tpot", P),
        ("latency", "Mean duration", "A"): ALL.mean_duration,
        ("latency", "Mean duration by model", "A"): _by_model(lambda t: t.mean_duration),
        ("latency", "Latency by model", "A"): _per_model(lambda t: t.count),
        ("latency", "Latency by model", "B"): _per_model(lambda t: t.quantile(0.5, "duration", D)),
        ("latency", "Latency by model", "C"): _per_model(lambda t: t.quantile(0.95, "duration", D)),
        ("latency", "Latency by model", "D"): _per_model(lambda t: t.quantile(0.99, "duration", D)),
        ("latency", "Latency by model", "E"): _per_model(
            lambda t: t.quantile(0.95, "ttft", T), skip=math.isnan
        ),
        ("latency", "Latency by model", "F"): _per_model(
            lambda t: t.quantile(0.95, "tpot", P), skip=math.isnan
        ),
        # errors and safety
        ("errors-safety", "Failure rate", "A"): ALL.failed / N,
        ("errors-safety", "Failed calls", "A"): float(ALL.failed),
        ("errors-safety", "Rate limited", "A"): 1.0,
        ("errors-safety", "Quota exceeded", "A"): 1.0,
        ("errors-safety", "Content filtered", "A"): 1.0,
        ("errors-safety", "Rate-limited share", "A"): 1 / N,
        # pipeline (the window holds the second batch: N spans, one bad request, one bad span)
        ("pipeline", "Items received", "A"): float(N),
        ("pipeline", "Items refused", "A"): 1.0,
        ("pipeline", "LLM calls recognised", "A"): float(N),
        ("pipeline", "Duplicate spans skipped", "A"): 0.0,
        ("pipeline", "OTLP items forwarded", "A"): float(N),
        ("pipeline", "Remote-write samples dropped", "A"): 0.0,
        ("pipeline", "OTLP items dropped", "A"): 0.0,
        ("pipeline", "Cardinality overflow", "A"): 0.0,
        ("pipeline", "Items refused per second", "A"): Keyed(
            ("signal", "reason"), {("traces", "invalid_record"): 1 / W}
        ),
        ("pipeline", "Requests refused per second", "A"): Keyed(
            ("protocol", "reason"), {("http", "malformed"): 1 / W}
        ),
        ("pipeline", "LLM calls recognised per second by dialect", "A"): Keyed(
            ("dialect",), {("semconv",): N / W}
        ),
        ("errors-safety", "Errors by model and class", "A"): Keyed(
            (PROVIDER, MODEL, "error_type"),
            {
                ("openai", MINI, "rate_limit"): 1.0,
                ("openai", MINI, "quota_exceeded"): 1.0,
                ("openai", MINI, "content_filter"): 1.0,
            },
        ),
    }


def _compare(got: Result, want: float | Keyed, t: Target) -> list[str]:
    if isinstance(want, Keyed):
        have = keyed(got, *want.labels)
        if set(have) != set(want.values) or not all(same(have[k], v) for k, v in want.values.items()):
            return [f"{t.file} / {t.panel} / {t.ref}: got {have}, want {want.values}"]
        return []
    value = scalar(got)
    return [] if same(value, want) else [f"{t.file} / {t.panel} / {t.ref}: got {value}, want {want}"]


def test_headline_panels_equal_what_was_sent(stack: Stack) -> None:
    problems = []
    for (board, panel, ref), want in _expectations(stack).items():
        t = _find(board, panel, ref)
        problems += _compare(run(stack, t), want, t)
    assert problems == []


@pytest.mark.parametrize(
    ("variables", "subset"),
    [
        ({"model": HAIKU}, ALL.where(lambda c: c.model == HAIKU)),
        ({"provider": "openai"}, ALL.where(lambda c: c.provider == "openai")),
        ({"service": "batch-worker"}, ALL.where(lambda c: c.service == "batch-worker")),
        ({"tenant": "acme"}, ALL.where(lambda c: c.service == "chat-api")),
        ({"namespace": "jobs"}, ALL.where(lambda c: c.service == "batch-worker")),
        ({"model": f"{MINI}|{FINETUNE}"}, ALL.where(lambda c: c.model in (MINI, FINETUNE))),  # multi-select
    ],
)
def test_filters_narrow_the_numbers(stack: Stack, variables: dict[str, str], subset: Truth) -> None:
    v = {**ALL_VARS, **variables}
    W = stack.window_s
    assert same(scalar(run(stack, _find("overview", "Spend"), variables=v)), subset.cost)
    assert same(
        scalar(run(stack, _find("overview", "Requests per minute"), variables=v)), subset.count / W * 60
    )
    assert same(scalar(run(stack, _find("errors-safety", "Failed calls"), variables=v)), subset.failed)
    assert same(scalar(run(stack, _find("tokens-cost", "Input tokens"), variables=v)), subset.tokens("input"))


def test_variables_list_what_was_sent(stack: Stack) -> None:
    doc = json.loads((DASHBOARDS / "llmpulse-overview.json").read_text())
    want = {
        "service": {"chat-api", "batch-worker"},
        "provider": {"openai", "anthropic"},
        "model": {MINI, HAIKU, FINETUNE},
        "tenant": {"acme", "globex"},
        "namespace": {"prod", "jobs"},
    }
    for var in doc["templating"]["list"][1:]:
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
        assert m, var["query"]
        series, label = substitute(m.group(1), "1m"), m.group(2)
        got = stack.prom.api(f"label/{label}/values", **{"match[]": series})
        assert set(got) == want[var["name"]], var["name"]


_RULE = re.compile(r"llm:(\w+):rate(\d+[smh])(\{[^}]*\})")


def _raw(expr: str) -> str:
    """The same query on raw series: ``llm:<m>:rate5m{sel}`` -> ``rate(<m>{sel}[5m])``."""
    rules = {r["record"]: r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
             if "record" in r}  # fmt: skip

    def raw(m: re.Match[str]) -> str:
        recorded = rules[f"llm:{m.group(1)}:rate{m.group(2)}"]
        inner = re.fullmatch(r"sum without \(llmpulse_instance\) \(rate\((\w+)\[(\w+)\]\)\)", recorded)
        assert inner, recorded
        return f"rate({inner.group(1)}{m.group(3)}[{inner.group(2)}])"

    return _RULE.sub(raw, expr)


def test_panels_on_recording_rules_equal_the_raw_query(stack: Stack) -> None:
    checked, problems = 0, []
    for t in TARGETS:
        if "llm:" not in t.expr:
            continue
        on_rules = run(stack, t, at=stack.rules_t)
        on_raw = run(stack, Target(t.file, t.panel, t.ref, _raw(t.expr)), at=stack.rules_t)
        if (
            not on_rules
            or set(on_rules) != set(on_raw)
            or not all(same(on_rules[k], on_raw[k]) for k in on_raw)
        ):
            problems.append(f"{t.file} / {t.panel} / {t.ref}: rules {on_rules} raw {on_raw}")
        checked += 1
    assert problems == []
    assert checked > 30


# --- llmpulse top ------------------------------------------------------------------------------


def _rows(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["model"]: r for r in doc["rows"]}


def _check_top(doc: dict[str, Any], window_s: float) -> None:
    rows = _rows(doc)
    assert set(rows) == {MINI, HAIKU, FINETUNE}
    for model, row in rows.items():
        t = of_model(model)
        assert row["rpm"] * window_s / 60 == pytest.approx(t.count, rel=1e-9), model
        assert row["tpm"] * window_s / 60 == pytest.approx(t.tokens(), rel=1e-9), model
        assert row["spend_usd_per_hour"] * window_s / 3600 == pytest.approx(t.cost, rel=1e-9, abs=1e-15), (
            model
        )
        assert row["failure_ratio"] == pytest.approx(t.failed / t.count, rel=1e-9), model
    total = doc["total"]
    assert total["rpm"] * window_s / 60 == pytest.approx(N, rel=1e-9)
    assert total["failure_ratio"] == pytest.approx(ALL.failed / N, rel=1e-9)


def test_top_metrics_mode_shows_the_batch(stack: Stack) -> None:
    doc = stack.top_metrics
    assert doc["mode"] == "metrics" and doc["source"] == stack.metrics_url
    window_s = doc["window_s"]
    assert 3.5 < window_s < 10
    _check_top(doc, window_s)
    rows = _rows(doc)
    assert rows[MINI]["p95_duration_s"] == pytest.approx(
        ALL.where(lambda c: c.model == MINI).quantile(0.95, "duration", stack.duration_bounds), rel=1e-9
    )
    assert rows[HAIKU]["p95_ttft_s"] == pytest.approx(
        ALL.where(lambda c: c.model == HAIKU).quantile(0.95, "ttft", stack.ttft_bounds), rel=1e-9
    )
    assert rows[FINETUNE]["p95_ttft_s"] is None  # never streamed


def _top_prom(stack: Stack, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [
        "--prometheus-url",
        stack.prom.url,
        "--window",
        stack.window,
        "--at",
        f"{stack.last_t:.3f}",
        "--once",
    ]
    return subprocess.run(
        [sys.executable, "-m", "llmpulse", "top", *argv, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_top_prometheus_mode_equals_the_dashboard(stack: Stack) -> None:
    done = _top_prom(stack, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["mode"] == "prometheus" and doc["window"] == stack.window
    _check_top(doc, stack.window_s)
    rows = _rows(doc)
    # The very panels a Grafana user sees hold the same numbers, per model.
    per_model = {
        "rpm": ("Top models", "B", 1.0),
        "tpm": ("Top models", "C", 60 / stack.window_s),  # tokens in the window -> per minute
        "spend_usd_per_hour": ("Top models", "D", 3600 / stack.window_s),
        "failure_ratio": ("Top models", "E", 1.0),
        "p95_duration_s": ("Top models", "F", 1.0),
        "p95_ttft_s": ("Top models", "G", 1.0),
    }
    for column, (panel, ref, scale) in per_model.items():
        values = keyed(run(stack, _find("overview", panel, ref)), MODEL)
        for model, row in rows.items():
            want = values.get((model,))
            if want is None or math.isnan(want):
                assert row[column] in (None, 0.0), (column, model)
            else:
                assert row[column] == pytest.approx(want * scale, rel=1e-9), (column, model)
    total = doc["total"]
    assert total["rpm"] == pytest.approx(
        scalar(run(stack, _find("overview", "Requests per minute"))), rel=1e-9
    )
    assert total["failure_ratio"] == pytest.approx(
        scalar(run(stack, _find("overview", "Failure rate"))), rel=1e-9
    )
    assert total["p95_duration_s"] == pytest.approx(
        scalar(run(stack, _find("overview", "p95 duration"))), rel=1e-9
    )


def test_top_table_prints_the_same_numbers(stack: Stack) -> None:
    as_json = _top_prom(stack, "--json")
    as_table = _top_prom(stack)
    assert as_table.returncode == 0, as_table.stderr
    lines = as_table.stdout.splitlines()
    for row in json.loads(as_json.stdout)["rows"]:
        shown = cells(ModelStats(**row))
        line = next(line for line in lines if f" {row['model']} " in line)
        assert [c for c in shown if c not in line] == [], line

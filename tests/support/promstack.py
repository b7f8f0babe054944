"""Real Prometheus and Alertmanager processes for tests, on free loopback ports.

Tests talk to the real binaries from Debian (``prometheus`` 2.42, ``prometheus-alertmanager``
0.25) rather than to mocks, because what we ship (rules, remote write, routing) is only proven
by the real parts. Everything here is plain functions and classes so any ``conftest.py`` can
wrap them in fixtures. A missing binary raises :class:`BinaryNotFound`: tests must fail, not skip.

>>> with Prometheus.start(tmp_path / "prom", rule_files=[rules]) as prom:
...     prom.query_value('sum(up)')
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml

T = TypeVar("T")
_S = TypeVar("_S", bound="_Server")

PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class BinaryNotFound(RuntimeError):
    """A Prometheus-stack binary is not on PATH (install it with ``tests/run-all.sh``)."""


class ProcessFailed(RuntimeError):
    """A process exited or never became ready; the message carries the tail of its log."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
_handed_out: set[int] = set()
_rng = random.Random(os.getpid() ^ time.monotonic_ns())


def free_port() -> int:
    """Return a loopback TCP port that is free now and outside the kernel's ephemeral range.

    Asking the kernel for port 0 hands back an *ephemeral* port, and the next outgoing
    connection of any process may take that same port before the test binds it ("Address
    already in use"). Ports below the ephemeral range are only ever taken by listeners, and this
    process never hands the same one out twice.
    """
    low = 20000
    high = min(_EPHEMERAL[0], 65536) - 1
    if high <= low:  # an unusual range: fall back to what the kernel picks
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for _ in range(1000):
        port = _rng.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}-{high}")


def find_binary(name: str) -> str:
    """Resolve ``name`` on PATH or raise :class:`BinaryNotFound` (never a skip)."""
    path = shutil.which(name)
    if path is None:
        raise BinaryNotFound(
            f"`{name}` is not on PATH; install the Debian packages prometheus and "
            "prometheus-alertmanager (tests/run-all.sh does this)"
        )
    return path


# Loopback only: never route test traffic through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url`` and return (status, body) without raising on HTTP error statuses."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def http_post(
    url: str, body: bytes = b"", content_type: str = "application/json", timeout: float = 5.0
) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` and return (status, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def wait_until(
    check: Callable[[], T | None], timeout: float, interval: float = 0.25, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy; raise TimeoutError naming ``what``.

    Exceptions from ``check`` count as "not yet" so callers can poll a process that is starting.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # the thing polled may not be up yet
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what}"
                + (f" (last error: {last_exc!r})" if last_exc else "")
            )
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; return the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


class _Server:
    """Shared lifecycle of one real HTTP server process: spawn, wait ready, stop, restart."""

    binary_name = ""
    ready_path = "/-/ready"

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.binary_name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _args(self) -> list[str]:
        raise NotImplementedError

    def _spawn(self) -> None:
        binary = find_binary(self.binary_name)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [binary, *self._args()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )
        finally:
            log.close()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` of the process log, for assertion messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until ``ready_path`` answers 200; fail with the log tail if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise ProcessFailed(f"{self.binary_name} exited with {code}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_get(self.url + self.ready_path, timeout=1.0)
                if status == 200:
                    return
            time.sleep(0.1)
        raise ProcessFailed(f"{self.binary_name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        if self.proc is None:
            return None
        return stop_process(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL at once, for crash tests (no clean shutdown, no final flush)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Start again on the same port and data directory (stop first if still running)."""
        self.stop()
        self._spawn()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _start_with_retries(make: Callable[[int], _S], attempts: int = 3) -> _S:
    """Start a server on a fresh free port, retrying if another process grabbed the port first."""
    last: ProcessFailed | None = None
    for _ in range(attempts):
        server = make(free_port())
        try:
            server._spawn()
            return server
        except ProcessFailed as e:
            if "address already in use" not in str(e):
                raise
            last = e
    assert last is not None
    raise last


class Prometheus(_Server):
    """A real Prometheus with the remote-write receiver, lifecycle API and 1 s rule evaluation.

    >>> prom = Prometheus.start(tmp / "prom", rule_files=[Path("alerts/rules.yaml")],
    ...                         alertmanager_urls=[am.url])
    >>> prom.query('up')          # instant vector as the HTTP API returns it
    >>> prom.restart()            # same port, same TSDB: for outage tests
    >>> prom.stop()
    """

    binary_name = PROMETHEUS_BINARY

    def __init__(self, workdir: Path, port: int, config: dict[str, Any], extra_args: Sequence[str]) -> None:
        super().__init__(workdir, port)
        self.config_path = workdir / "prometheus.yml"
        self.tsdb_path = workdir / "tsdb"
        self.extra_args = list(extra_args)
        self.write_config(config)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        rule_files: Sequence[Path] = (),
        alertmanager_urls: Sequence[str] = (),
        evaluation_interval: str = "1s",
        scrape_interval: str = "1s",
        scrape_configs: Sequence[dict[str, Any]] = (),
        extra_args: Sequence[str] = (),
    ) -> Prometheus:
        """Write a config into ``workdir`` (created if needed) and start Prometheus on a free port.

        ``alertmanager_urls`` are ``http://host:port`` strings; ``extra_args`` go to the binary
        (e.g. ``--rules.alert.resend-delay=1s`` to make end-to-end alert tests quick).
        """
        workdir.mkdir(parents=True, exist_ok=True)
        config = prometheus_config(
            rule_files=rule_files,
            alertmanager_urls=alertmanager_urls,
            evaluation_interval=evaluation_interval,
            scrape_interval=scrape_interval,
            scrape_configs=scrape_configs,
        )
        return _start_with_retries(lambda port: cls(workdir, port, config, extra_args))

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the config file; call :meth:`reload` (or restart) to apply it."""
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def _args(self) -> list[str]:
        return [
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.tsdb_path}",
            f"--web.listen-address={self.address}",
            "--web.enable-remote-write-receiver",
            "--web.enable-lifecycle",
            "--log.level=info",
            *self.extra_args,
        ]

    @property
    def remote_write_url(self) -> str:
        return self.url + "/api/v1/write"

    def reload(self) -> None:
        """Re-read config and rule files through the lifecycle API."""
        status, body = http_post(self.url + "/-/reload")
        if status != 200:
            raise ProcessFailed(f"reload failed with {status}: {body!r}\n{self.log_tail()}")

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return ``data``; raise with Prometheus' error otherwise."""
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""))
        doc = json.loads(body) if body else {}
        if status != 200 or doc.get("status") != "success":
            raise RuntimeError(f"Prometheus /api/v1/{path} {params} -> {status}: {body[:500]!r}")
        return doc["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; return the ``result`` list (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_value(self, expr: str, at: float | None = None) -> float | None:
        """Value of a query that yields at most one sample; None when it yields nothing."""
        result = self.query(expr, at)
        if not result:
            return None
        if len(result) > 1:
            raise ValueError(f"{expr!r} returned {len(result)} series, expected at most one: {result}")
        return float(result[0]["value"][1])

    def series(self, match: str) -> list[dict[str, str]]:
        """Label sets of the series matching ``match`` (e.g. ``{__name__=~"gen_ai_.*"}``)."""
        return list(self.api("series", **{"match[]": match}))

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts as ``/api/v1/alerts`` reports them."""
        return list(self.api("alerts")["alerts"])

    def rule_groups(self) -> list[dict[str, Any]]:
        """Loaded rule groups with their health and last error (``/api/v1/rules``)."""
        return list(self.api("rules")["groups"])


def prometheus_config(
    *,
    rule_files: Sequence[Path] = (),
    alertmanager_urls: Sequence[str] = (),
    evaluation_interval: str = "1s",
    scrape_interval: str = "1s",
    scrape_configs: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The Prometheus config the tests use: fast evaluation, optional rules and alerting."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
    }
    if rule_files:
        config["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    if alertmanager_urls:
        targets = [urllib.parse.urlparse(u).netloc or u for u in alertmanager_urls]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    if scrape_configs:
        config["scrape_configs"] = list(scrape_configs)
    return config


class Alertmanager(_Server):
    """A real Alertmanager with clustering disabled.

    >>> am = Alertmanager.start(tmp / "am", config_text=Path("alerts/alertmanager.yaml").read_text())
    >>> am.alerts()               # alerts it holds, via /api/v2/alerts
    >>> am.stop()
    """

    binary_name = ALERTMANAGER_BINARY

    def __init__(self, workdir: Path, port: int, config_text: str, extra_args: Sequence[str]) -> None:
        super().__init__(workdir, port)
        self.config_path = workdir / "alertmanager.yml"
        self.storage_path = workdir / "data"
        self.extra_args = list(extra_args)
        self.config_path.write_text(config_text)

    @classmethod
    def start(cls, workdir: Path, *, config_text: str, extra_args: Sequence[str] = ()) -> Alertmanager:
        """Write ``config_text`` into ``workdir`` and start Alertmanager on a free port."""
        workdir.mkdir(parents=True, exist_ok=True)
        return _start_with_retries(lambda port: cls(workdir, port, config_text, extra_args))

    def _args(self) -> list[str]:
        return [
            f"--config.file={self.config_path}",
            f"--storage.path={self.storage_path}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",  # empty disables the gossip cluster (and its port)
            "--log.level=info",
            *self.extra_args,
        ]

    def alerts(self, active_only: bool = False) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (``/api/v2/alerts``)."""
        suffix = "?active=true&silenced=false&inhibited=false" if active_only else ""
        status, body = http_get(self.url + "/api/v2/alerts" + suffix)
        if status != 200:
            raise RuntimeError(f"Alertmanager /api/v2/alerts -> {status}: {body[:500]!r}")
        return list(json.loads(body))

    def reload(self) -> None:
        """Re-read the config file (``/-/reload``)."""
        status, body = http_post(self.url + "/-/reload")
        if status != 200:
            raise ProcessFailed(f"reload failed with {status}: {body!r}\n{self.log_tail()}")


class WebhookSink:
    """An HTTP server in the test process that records Alertmanager webhook notifications.

    Alertmanager POSTs one JSON document per notification (``receiver``, ``status``, ``alerts``
    with ``labels``/``annotations``); the sink keeps them with the request path, so one sink can
    stand in for several receivers (``/oncall``, ``/archive``).

    >>> with WebhookSink() as sink:
    ...     am_config = f"... url: {sink.url}/team ..."
    ...     doc = sink.wait_for(lambda d: d["status"] == "firing", timeout=60)
    """

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"unparsed": body.decode(errors="replace")}
                doc["_path"] = self.path
                with sink._cond:
                    sink.notifications.append(doc)
                    sink._cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Return the first notification ``match`` accepts, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for doc in self.notifications:
                    if match(doc):
                        return doc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching notification within {timeout:.0f}s; got {len(self.notifications)}: "
                        f"{json.dumps(self.notifications)[:2000]}"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

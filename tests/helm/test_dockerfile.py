"""The container image, checked without a Docker engine: the Dockerfile's structure (multi-stage,
a compiler only in the builder, numeric non-root user, entry point), its agreement with the
chart (user, ports, config path, data dir), the build context, and the wheel it installs (with
the native scanner compiled in)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from llmpulse._compiled import COMPILED
from tests.helm.conftest import CHART, ROOT, render

BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|python3?-dev|libc6-dev|cargo|rustc)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path) -> list[Stage]:
    """Dockerfile instructions per stage (line continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, line
            stages.append(Stage(match.group(1), match.group(2)))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(ROOT / "Dockerfile")


def test_multi_stage_with_a_slim_python_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.name == "builder" and final.name is None
    for stage in (builder, final):
        assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim(-\w+)?", stage.base), stage.base
    assert any("--wheel" in run or "pip wheel" in run for run in builder.all("RUN"))


def test_builder_compiles_the_native_scanner_and_refuses_a_wheel_without_it(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = builder.all("RUN")
    install = next(i for i, run in enumerate(runs) if "apt-get install" in run)
    assert {"gcc", "libc6-dev", "--no-install-recommends"} <= set(runs[install].split())
    assert "rm -rf /var/lib/apt/lists/*" in runs[install]  # no apt lists in the layer
    assert any("setup.py" in copy.split() for copy in builder.all("COPY"))  # it declares the extension
    build = next(i for i, run in enumerate(runs) if "--wheel" in run)
    assert install < build
    check = runs[build + 1]  # setup.py marks the extension optional: the image must not be
    assert "zipfile -l /dist/llmpulse-*.whl" in check and "llmpulse/otlp/_scan" in check
    assert "llmpulse/normalise/_fields" in check
    assert "llmpulse/pipeline" in check and "__mypyc" in check  # the mypyc-compiled per-span path


def test_final_stage_has_no_build_tools_and_installs_offline_from_the_builder(stages: list[Stage]) -> None:
    final = stages[-1]
    runs = " ".join(final.all("RUN"))
    assert not BUILD_TOOLS.search(runs), BUILD_TOOLS.search(runs)
    assert "apt-get install" not in runs
    assert "from=builder" in runs or any("--from=builder" in c for c in final.all("COPY"))
    assert "--no-index" in runs  # nothing fetched (or compiled) in the final stage
    assert "llmpulse[kubernetes]" in runs  # the chart turns pod metadata on by default
    assert final.all("COPY") == []  # no source tree in the image, only the installed wheel


def test_runs_as_a_numeric_non_root_user_matching_the_chart(stages: list[Stage]) -> None:
    final = stages[-1]
    args = dict(a.split("=", 1) for a in final.all("ARG") if "=" in a)
    users = final.all("USER")
    assert len(users) == 1
    uid, _, gid = users[0].replace("${UID}", args.get("UID", "")).partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(uid) == values["podSecurityContext"]["runAsUser"] == 10001
    assert any(f"--uid {'${UID}'}" in run for run in final.all("RUN"))  # the user exists in /etc/passwd
    instructions = [kw for kw, _ in final.instructions]
    assert instructions.index("USER") > max(i for i, kw in enumerate(instructions) if kw == "RUN")


def test_entrypoint_command_ports_and_paths_agree_with_the_chart(stages: list[Stage]) -> None:
    final = stages[-1]
    assert [json.loads(e) for e in final.all("ENTRYPOINT")] == [["llmpulse"]]
    cmd = json.loads(final.all("CMD")[0])
    assert cmd == ["serve", "--config", "/etc/llmpulse/config.yaml"]
    exposed = {int(p) for e in final.all("EXPOSE") for p in e.split()}
    pod = render({}).one("Deployment", "demo-llmpulse")["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert exposed == {p["containerPort"] for p in main["ports"]}
    assert main["args"] == cmd  # the chart runs the image's default command
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["config"] == cmd[2]
    assert f"LLMPULSE_DATA_DIR={mounts['data']}" in " ".join(final.all("ENV"))
    healthcheck = " ".join(final.all("HEALTHCHECK"))
    assert "127.0.0.1:9464/healthz" in healthcheck
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'llmpulse = "llmpulse.cli:main"' in pyproject  # the ENTRYPOINT exists


def test_build_context_holds_what_the_builder_copies_and_nothing_else() -> None:
    rules = [
        r.strip()
        for r in (ROOT / ".dockerignore").read_text().splitlines()
        if r.strip() and not r.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert allowed == {"pyproject.toml", "setup.py", "README.md", "processors"}
    builder = parse(ROOT / "Dockerfile")[0]
    copied = {c.split()[0].rstrip("/").removeprefix("./") for c in builder.all("COPY")}
    assert {c.replace("README.m[d]", "README.md") for c in copied} <= allowed


@pytest.mark.slow
@pytest.mark.timeout(900)  # mypyc type-checks the package and compiles the per-span path: minutes
def test_the_wheel_the_image_installs_has_the_package_data_and_entry_point(tmp_path: Path) -> None:
    """Built like the builder stage does, from a copy of the build context .dockerignore lets in."""
    context, out = tmp_path / "context", tmp_path / "dist"
    context.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, context / name)
    # as .dockerignore does: an in-place build's extension must not stand in for compiling one
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so")
    shutil.copytree(ROOT / "processors", context / "processors", ignore=ignore)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    result = subprocess.run([*pip, "-w", str(out), str(context)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    wheel = next(out.glob("llmpulse-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
        assert "llmpulse = llmpulse.cli:main" in archive.read(entry_points).decode()
    assert {"llmpulse/k8s/__init__.py", "llmpulse/enrich/prices.yaml", "llmpulse/py.typed"} <= names
    # the native scanner and dialect-table reader, compiled for this interpreter, and their type stubs
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert f"llmpulse/otlp/_scan{suffix}" in names, sorted(n for n in names if "_scan" in n)
    assert {f"llmpulse/normalise/_fields{suffix}", "llmpulse/normalise/_fields.pyi"} <= names
    assert {"llmpulse/otlp/_scan.pyi", "llmpulse/otlp/_scan_py.py", "llmpulse/otlp/scan.py"} <= names
    # every module mypyc compiles, beside its source (``llmpulse._compiled`` falls back to it), and
    # the group's shared library at the top level
    for module in COMPILED:
        path = module.replace(".", "/")
        assert {f"{path}{suffix}", f"{path}.py"} <= names, module
    assert any(n.endswith(f"__mypyc{suffix}") and "/" not in n for n in names), sorted(names)[:5]
    # installed as the image installs it: every compiled module runs compiled, and pip's unpacking
    # times (a source after its module) are not taken for a stale build
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(site)]
    result = subprocess.run([*pip, str(wheel)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    code = (
        "import importlib\n"
        "from llmpulse._compiled import COMPILED\n"
        "print('\\n'.join(importlib.import_module(n).__file__ for n in COMPILED))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LLMPULSE_PURE_PYTHON", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    ran = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    files = ran.stdout.split()
    assert len(files) == len(COMPILED) and all(f.startswith(str(site)) and f.endswith(suffix) for f in files)
    assert not any(n.startswith(("tests/", "helm/")) for n in names)
    assert "Provides-Extra: kubernetes" in metadata

"""Build a ``Config`` from the YAML file, ``LLMPULSE_*`` variables and CLI flags (in that order of
precedence, lowest first), and report every problem with its key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmpulse.config._model import Config

#: CLI flags (and their ``LLMPULSE_*`` shorthands) → config paths.
FLAG_PATHS: dict[str, tuple[str, ...]] = {
    "otlp_grpc_endpoint": ("receivers", "grpc", "endpoint"),
    "otlp_http_endpoint": ("receivers", "http", "endpoint"),
    "metrics_endpoint": ("metrics", "endpoint"),
    "remote_write_url": ("remote_write", "targets"),
    "forward_otlp_endpoint": ("forward", "targets"),
    "data_dir": ("data_dir",),
    "workers": ("workers",),
}


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists each one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _flag_value(flag: str, value: str) -> Any:
    if flag == "remote_write_url":
        return [{"url": url.strip()} for url in value.split(",") if url.strip()]
    if flag == "forward_otlp_endpoint":
        return [{"endpoint": ep.strip()} for ep in value.split(",") if ep.strip()]
    return value


#: LLMPULSE_* variables that are not configuration keys: the config file's path, and the switch
#: that makes a missing native scanner an import error (llmpulse.otlp.scan)
NOT_CONFIG = frozenset({"LLMPULSE_CONFIG", "LLMPULSE_REQUIRE_NATIVE"})


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("LLMPULSE_") or name in NOT_CONFIG:
            continue
        key = name[len("LLMPULSE_") :].lower()
        if key in FLAG_PATHS:
            _set(tree, FLAG_PATHS[key], _flag_value(key, raw))
            continue
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        _set(tree, tuple(part for part in key.split("__") if part), value)
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError([f"cannot read config file {str(path)!r}: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            [f"{path}: the top level must be a mapping of settings, got {type(document).__name__}"]
        )
    return document


def load_config(
    path: Path | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge file < environment < flags and validate; raises ``ConfigError`` listing every problem."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get("LLMPULSE_CONFIG"):
        path = Path(environ["LLMPULSE_CONFIG"])
    tree: dict[str, Any] = read_yaml(path) if path is not None else {}
    _merge(tree, _env_overrides(environ))
    for flag, value in (flags or {}).items():
        if value is None:
            continue
        if flag not in FLAG_PATHS:
            raise ValueError(f"unknown flag {flag}")
        _set(tree, FLAG_PATHS[flag], _flag_value(flag, str(value)))
    return validate(tree)


def validate(tree: Mapping[str, Any]) -> Config:
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None


def format_errors(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            problems.append(f"`{path}`: unknown key (check the spelling; see `llmpulse check-config --help`)")
            continue
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"`{path}`: {message} (got {error.get('input')!r})")
    return problems

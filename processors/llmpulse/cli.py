"""The ``llmpulse`` command: ``serve``, ``check-config``, ``demo-traffic`` and plugin commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from llmpulse import __version__

#: Modules that add a subcommand with ``register(subparsers)``.
COMMAND_MODULES: list[str] = ["llmpulse.top"]


def _serve(args: argparse.Namespace) -> int:
    from llmpulse.config import ConfigError, load_config
    from llmpulse.server import run

    flags = {
        "otlp_grpc_endpoint": args.otlp_grpc_endpoint,
        "otlp_http_endpoint": args.otlp_http_endpoint,
        "metrics_endpoint": args.metrics_endpoint,
        "remote_write_url": args.remote_write_url,
        "forward_otlp_endpoint": args.forward_otlp_endpoint,
        "data_dir": args.data_dir,
        "workers": args.workers,
    }
    try:
        config = load_config(args.config, flags=flags)
    except ConfigError as exc:
        print("llmpulse: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(config)


def _check_config(args: argparse.Namespace) -> int:
    from llmpulse.config import ConfigError, load_config

    try:
        config = load_config(args.file, environ={})
        if config.enrich.prices_file is not None:
            from llmpulse.enrich import PriceTable

            PriceTable.load(config.enrich.prices_file)
    except ConfigError as exc:
        print(f"{args.file}: {len(exc.problems)} problem(s):")
        for problem in exc.problems:
            print(f"  {problem}")
        return 1
    except (OSError, ValueError) as exc:
        print(f"{args.file}: `enrich.prices_file`: {exc}")
        return 1
    print(f"{args.file}: OK")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from llmpulse.demo import send_demo_traffic

    sent = send_demo_traffic(
        args.endpoint, calls=args.calls, seconds=args.seconds, insecure=True, token=args.token
    )
    print(f"sent {sent} LLM spans to {args.endpoint}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmpulse", description="OpenTelemetry gateway for LLM traffic.")
    parser.add_argument("--version", action="version", version=f"llmpulse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway. Flags override the "
        "config file; every setting also has an LLMPULSE_* variable.",
    )
    serve.add_argument("--config", type=Path, help="YAML config file (env LLMPULSE_CONFIG)")
    serve.add_argument("--otlp-grpc-endpoint", help="OTLP/gRPC listen address (default 127.0.0.1:4317)")
    serve.add_argument("--otlp-http-endpoint", help="OTLP/HTTP listen address (default 127.0.0.1:4318)")
    serve.add_argument(
        "--metrics-endpoint", help="/metrics, /healthz, /readyz address (default 127.0.0.1:9464)"
    )
    serve.add_argument("--remote-write-url", help="Prometheus remote-write URL(s), comma-separated")
    serve.add_argument("--forward-otlp-endpoint", help="OTLP/gRPC endpoint(s) to forward enriched data to")
    serve.add_argument("--data-dir", help="directory for durable state and queues (default ./llmpulse-data)")
    serve.add_argument(
        "--workers", type=int, help="processes sharing the ports (default 1; env LLMPULSE_WORKERS)"
    )
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check-config", help="validate a config file and print every problem")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_check_config)

    demo = sub.add_parser("demo-traffic", help="send realistic LLM spans to a running llmpulse")
    demo.add_argument("--endpoint", default="127.0.0.1:4317", help="OTLP/gRPC endpoint of llmpulse")
    demo.add_argument("--calls", type=int, default=60, help="how many LLM calls to send")
    demo.add_argument("--seconds", type=float, default=0.0, help="spread the calls over this many seconds")
    demo.add_argument("--token", help="bearer token, if the receiver requires one")
    demo.set_defaults(func=_demo)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

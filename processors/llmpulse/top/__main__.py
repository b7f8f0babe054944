"""``python -m llmpulse.top``: the same as ``llmpulse top``, without the rest of the CLI."""

import argparse
import sys

from llmpulse.top import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmpulse")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["top", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

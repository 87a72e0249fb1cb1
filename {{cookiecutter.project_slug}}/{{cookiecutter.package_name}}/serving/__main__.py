"""`python -m <package>.serving [tensorflow_model_server flags]`: the embedded model server."""

from __future__ import annotations

import asyncio
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError
    from .flags import FlagError, build_parser, parse_flags

    try:
        flags = parse_flags(sys.argv[1:] if argv is None else argv)
    except FlagError as error:
        print(f"model-server: error: {error}\n{build_parser().format_usage()}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s.%(msecs)03d %(levelname).1s %(name)s] %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    from .server import StartupError, serve

    try:
        return asyncio.run(serve(flags))
    except (ConfigError, StartupError) as error:
        print(f"model-server: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m embedded_tfserving [tensorflow_model_server flags]`: run the server."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from .errors import FlagError, ModelServerError
from .flags import build_parser, parse_flags


def main(argv: list[str] | None = None) -> int:
    try:
        flags = parse_flags(sys.argv[1:] if argv is None else argv)
    except FlagError as error:
        print(f"embedded_tfserving: error: {error}\n{build_parser().format_usage()}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s.%(msecs)03d %(levelname).1s %(name)s] %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    from .server import serve  # TensorFlow loads here, after the flags are known to be good

    try:
        return asyncio.run(serve(flags))
    except ModelServerError as error:
        print(f"embedded_tfserving: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

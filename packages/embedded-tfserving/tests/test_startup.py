"""Start-up is all or nothing: REST binds after gRPC, and when its port is taken the server says so
and stops the gRPC server it had already started, in the same process, before returning."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from embedded_tfserving.process import PACKAGE_PARENT, free_port

CHILD = textwrap.dedent("""
    import asyncio, logging, socket, sys
    from embedded_tfserving.errors import StartupError
    from embedded_tfserving.flags import parse_flags
    from embedded_tfserving.server import serve

    logging.basicConfig(level=logging.INFO)
    flags = parse_flags(sys.argv[1:])
    try:
        asyncio.run(serve(flags))
    except StartupError as error:
        print("refused:", error)
    with socket.socket() as probe:  # fails while the gRPC server still holds its port
        probe.bind(("127.0.0.1", flags.port))
    print("gRPC port free")
""")


def test_a_taken_rest_port_fails_start_up_clearly_and_stops_grpc(tf1_model: Path, tmp_path: Path) -> None:
    shutil.copytree(tf1_model, tmp_path / "m" / "1")
    grpc_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rest_port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", CHILD, "--model_name=m", f"--model_base_path={tmp_path / 'm'}",
             f"--port={grpc_port}", f"--rest_api_port={rest_port}"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(PACKAGE_PARENT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"refused: cannot listen for REST on 127.0.0.1:{rest_port}" in done.stdout, done.stdout
    assert "--rest_api_port" in done.stdout and "gRPC port free" in done.stdout
    assert "Running gRPC ModelServer" in done.stderr  # gRPC was up before REST failed

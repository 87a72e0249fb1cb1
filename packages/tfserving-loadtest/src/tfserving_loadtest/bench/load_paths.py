"""CPU per model call on two ways of loading a SavedModel, side by side, in one run.

- "session": what the embedded server runs (as TF Serving: the `serve` MetaGraphDef in a Session,
  signatures run by their tensor names; embedded_tfserving.servable);
- "object graph": what it ran before, `tf.saved_model.load` and one concrete function per signature,
  called with tf.constant inputs.

Each at batch sizes 1, 16 and 256, with the thread flags (`--tensorflow_intra_op_parallelism`,
`--tensorflow_inter_op_parallelism`) at their default (0: TensorFlow picks, one thread per core)
and at 1. Every configuration runs in a child process of its own, set up by the server's own code
(flags.parse_flags, server.configure_tensorflow): TensorFlow's thread pools are process-wide and
sized once, so two settings cannot share a process. CPU is the child's process time (every
TensorFlow thread included) per call, one caller, no server around it.

The inputs are the benchmark's (`inputs.npz`, one array per signature input, sliced to each batch).
Run as a child: `python -m tfserving_loadtest.bench.load_paths VERSION_DIR PATH THREADS SECONDS
SIGNATURE INPUTS_NPZ BATCH...` prints one JSON line of cells.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LoadTestError

PATHS = ("session", "object graph")
THREADS = (0, 1)  # 0: TensorFlow's default
BATCHES = (1, 16, 256)
WARMUP_CALLS = 20
Call = Callable[[dict[str, np.ndarray]], Any]


@dataclass
class PathCell:
    path: str
    threads: int  # intra- and inter-op threads (0: TensorFlow's default)
    batch: int
    calls: int
    cpu_us: float  # process CPU per call, all threads
    wall_us: float  # wall time per call

    @property
    def label(self) -> str:
        return f"{self.path}, threads {'default' if self.threads == 0 else self.threads}"


def load_inputs(path: Path) -> dict[str, np.ndarray]:
    """The benchmark's inputs, as saved by bench.run.save_inputs."""
    with np.load(path, allow_pickle=True) as saved:  # object arrays (strings) are pickled: our own file
        return {name: saved[name] for name in saved.files}


def _session_call(version_dir: Path, signature: str, intra: int, inter: int) -> Call:
    from embedded_tfserving.servable import Servable, session_config

    servable = Servable("bench", 1, version_dir, session_config(intra, inter))
    return lambda inputs: servable.run(signature, inputs)


def _object_graph_call(version_dir: Path, name: str) -> Call:
    import tensorflow as tf

    signature = tf.saved_model.load(str(version_dir)).signatures[name]

    def call(inputs: dict[str, np.ndarray]) -> Any:  # as the server's object-graph path ran a request
        outputs = signature(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    return call


def measure(version_dir: Path, path: str, threads: int, seconds: float, signature: str, inputs_file: Path,
            batches: tuple[int, ...]) -> list[PathCell]:
    """In this process (a fresh one): set the thread flags as the server does, load, time each batch size."""
    from embedded_tfserving.flags import parse_flags, session_threads
    from embedded_tfserving.server import configure_tensorflow

    flags = parse_flags([f"--model_base_path={version_dir}", f"--tensorflow_intra_op_parallelism={threads}",
                         f"--tensorflow_inter_op_parallelism={threads}"])
    configure_tensorflow(flags)
    call = (_session_call(version_dir, signature, *session_threads(flags)) if path == "session"
            else _object_graph_call(version_dir, signature))
    features = load_inputs(inputs_file)
    cells = []
    for batch in batches:
        inputs = {name: values[:batch] for name, values in features.items()}
        for _ in range(WARMUP_CALLS):
            call(inputs)
        calls, deadline = 0, time.perf_counter() + seconds
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        while time.perf_counter() < deadline:
            call(inputs)
            calls += 1
        cpu, wall = time.process_time() - cpu_started, time.perf_counter() - wall_started
        cells.append(PathCell(path, threads, batch, calls, cpu / calls * 1e6, wall / calls * 1e6))
    return cells


def load_path_cells(version_dir: Path, seconds: float, signature: str, inputs_file: Path, say: Callable[[str], None],
                    batches: tuple[int, ...] = BATCHES) -> list[PathCell]:
    """Every (path, threads) configuration in its own child process, one after the other."""
    cells = []
    for threads in THREADS:
        for path in PATHS:
            say(f"  load path: {path}, threads {threads or 'default'}, batches {', '.join(map(str, batches))} ...")
            command = [sys.executable, "-m", __name__, str(version_dir.resolve()), path, str(threads), str(seconds),
                       signature, str(inputs_file.resolve()), *map(str, batches)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise LoadTestError(f"measuring the {path} load path failed: {done.stderr.strip()[-1000:]}")
            cells += [PathCell(**cell) for cell in json.loads(done.stdout.strip().splitlines()[-1])]
    return cells


def find(cells: list[PathCell], path: str, threads: int, batch: int) -> PathCell | None:
    return next((c for c in cells if (c.path, c.threads, c.batch) == (path, threads, batch)), None)


def path_ratios(cells: list[PathCell]) -> list[tuple[str, float]]:
    """Object graph / session CPU per call (each at default threads), and threads 1 / default per path."""
    found = []
    for batch in sorted({c.batch for c in cells}):
        session, old = find(cells, "session", 0, batch), find(cells, "object graph", 0, batch)
        if session and old:
            found.append((f"object graph / session, CPU per call at batch {batch}", old.cpu_us / session.cpu_us))
        for path in PATHS:
            one, default = find(cells, path, 1, batch), find(cells, path, 0, batch)
            if one and default:
                found.append((f"{path}: threads 1 / default, CPU per call at batch {batch}", one.cpu_us / default.cpu_us))
    return found


def path_table(cells: list[PathCell]) -> str:
    batches = sorted({c.batch for c in cells})
    header = "".join(f"{f'batch {b} cpu/wall us':>26}" for b in batches)
    lines = ["CPU per model call by load path, in-process, one caller (us per call: process CPU / wall)",
             f"{'path':<32}{header}"]
    for threads in THREADS:
        for path in PATHS:
            row = [find(cells, path, threads, b) for b in batches]
            label = f"{path}, threads {'default' if threads == 0 else threads}"
            lines.append(f"{label:<32}" + "".join(f"{f'{c.cpu_us:.0f} / {c.wall_us:.0f}' if c else '-':>26}" for c in row))
    return "\n".join(lines)


def main() -> None:
    version_dir, path, threads, seconds, signature, inputs_file, *batches = sys.argv[1:]
    cells = measure(Path(version_dir), path, int(threads), float(seconds), signature, Path(inputs_file),
                    tuple(int(b) for b in batches))
    print(json.dumps([asdict(c) for c in cells]))


if __name__ == "__main__":
    main()

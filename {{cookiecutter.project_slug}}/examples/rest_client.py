"""Score rows with the served CTR model over TF Serving's REST API, as an application would.

Needs only `requests`, no code of this project. With `make serve` running:

    python examples/rest_client.py --rows 3

The signature (`serving_default`): inputs `dense`, 13 floats, and `categorical`, 26 strings, per
row; output `probability`, one float per row.
"""

from __future__ import annotations

import argparse
import random

import requests

DENSE_FEATURES, CATEGORICAL_FEATURES = 13, 26


def example_row(rng: random.Random) -> dict[str, list]:
    """One row in the model's schema: Criteo-style counts and 8-hex-digit category tokens."""
    return {"dense": [float(rng.randint(0, 50)) for _ in range(DENSE_FEATURES)],
            "categorical": [f"{rng.getrandbits(32):08x}" for _ in range(CATEGORICAL_FEATURES)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8501", help="the server's REST address")
    parser.add_argument("--model", default="{{ cookiecutter.model_name }}")
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(0)
    body = {"signature_name": "serving_default", "instances": [example_row(rng) for _ in range(args.rows)]}
    reply = requests.post(f"{args.url}/v1/models/{args.model}:predict", json=body, timeout=30)
    if reply.status_code != 200:  # TF Serving's errors come as {"error": "..."}
        raise SystemExit(f"HTTP {reply.status_code}: {reply.json().get('error', reply.text)}")
    for probability in reply.json()["predictions"]:
        print(f"click probability: {probability:.4f}")


if __name__ == "__main__":
    main()

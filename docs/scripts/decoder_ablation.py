"""The decoder ablation in docs/benchmarks.md: one trained checkpoint, decoded with 0..16 phase-retrieval
iterations (a config change only: the weights are the same), scored by both dev-set scorers.

    python docs/scripts/decoder_ablation.py CHECKPOINT [--iterations 0 4 8 16] [--limit N] [--out OUT.json]
"""
import argparse
import json
import os
import sys
import tempfile

from spikecodec.checkpoint import read_checkpoint, save_checkpoint
from spikecodec.training.evaluate import evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--iterations", type=int, nargs="+", default=[0, 4, 8, 16])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--no-visqol", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    blob = read_checkpoint(a.checkpoint)
    rows = []
    with tempfile.TemporaryDirectory(prefix="spikecodec-ablation-") as tmp:
        for n in a.iterations:
            path = os.path.join(tmp, f"iters{n}.pt")
            save_checkpoint(path, blob["name"], {**blob["config"], "phase_iterations": n},
                            {k: v for k, v in blob["state_dict"].items()}, blob["meta"])
            r = evaluate(path, limit=a.limit, visqol=not a.no_visqol, out_dir=os.path.join(tmp, f"out{n}"))
            row = {"phase_iterations": n}
            for name, s in r["sets"].items():
                row[name] = {"kbps": s["kbps_mean"], **(s["scores"] or {}), **(s["fidelity"] or {}),
                             "decode_xrt": s["decode_xrt"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())

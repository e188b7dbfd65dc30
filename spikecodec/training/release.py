"""Turn a training export into a release candidate under a new, never-used name (docs/models.md).

    python -m spikecodec.training.release runs/mu4/mu4.pt checkpoints/mu4.pt [--phase-iterations 4]

The weights are copied as they are; the stored config may change only in inference settings that no
weight depends on: ``phase_iterations`` (the decoders train with 8 fast Griffin-Lim iterations in the loop
and ship with 4, within noise of 8 and about 1.5x faster) and ``input_floor`` (the encoder's log-magnitude
floor, a calibration of the decoded level); docs/decoder-ablation.md measures both. The name is the
output file's stem. Writing over a registered file is refused (``save_checkpoint``). Prints the model id
and the line to add to checkpoints/models.json.
"""
from __future__ import annotations

import argparse
import json
import os

from ..checkpoint import read_checkpoint, save_checkpoint

INFERENCE_SETTINGS = ("phase_iterations", "input_floor")


def release(src: str, dst: str, **overrides) -> tuple[str, str]:
    """Write src's weights to dst under dst's stem as name; returns (name, model id)."""
    blob = read_checkpoint(src)
    config = dict(blob["config"])
    for key, value in overrides.items():
        if key not in INFERENCE_SETTINGS:
            raise ValueError(f"{key} is not an inference setting; retrain instead")
        if value is not None:
            config[key] = value
    name = os.path.splitext(os.path.basename(dst))[0]
    meta = {**blob.get("meta", {}), "released_from": os.path.basename(src)}
    return name, save_checkpoint(dst, name, config, blob["state_dict"], meta)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m spikecodec.training.release", description=__doc__.split("\n")[0])
    ap.add_argument("src", help="a training export (runs/<config>/<config>.pt)")
    ap.add_argument("dst", help="checkpoints/<new name>.pt")
    ap.add_argument("--phase-iterations", type=int, default=None)
    ap.add_argument("--input-floor", type=float, default=None)
    ap.add_argument("--variant", default="mu-SPARSE", help="for the printed models.json line")
    a = ap.parse_args(argv)
    name, model_id = release(a.src, a.dst, phase_iterations=a.phase_iterations, input_floor=a.input_floor)
    print(f"{a.dst}: model id {model_id}; add to checkpoints/models.json (with its measured kbps range):")
    print(json.dumps({"name": name, "file": os.path.basename(a.dst), "id": model_id, "variant": a.variant}))


if __name__ == "__main__":
    main()

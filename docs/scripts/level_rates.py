"""A mu-model's file-rate range over its levels, for its checkpoints/models.json line ("kbps": [min, max]).

    .venv/bin/python docs/scripts/level_rates.py MODEL [--spk-version 1]

Every dev clip (piano and music) encoded at every level through spikecodec.encode; the mean file kbps per
level over the clips; prints the lowest and highest (.spk v1 by default, as the registry's ranges are).
"""
import argparse

import numpy as np
import soundfile as sf
import torch

import spikecodec
from spikecodec.shareddata import dev_clips, shared_dir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--spk-version", type=int, default=1)
    ap.add_argument("--shared", default=shared_dir())
    a = ap.parse_args()
    torch.set_num_threads(1)
    m = spikecodec.load_model(a.model, device="cpu")
    clips = [sf.read(p, dtype="float32") for group in ("music", "piano")
             for p in dev_clips(group, shared=a.shared)]
    per_level = []
    for level in range(m.config.num_levels):
        kbps = [8 * len(spikecodec.encode(x, sr, model=m, level=level, spk_version=a.spk_version)) / (len(x) / sr) / 1000
                for x, sr in clips]
        per_level.append(float(np.mean(kbps)))
        print(f"level {level:2d}: {per_level[-1]:.2f} kbps")
    print(f"{m.name}: kbps [{min(per_level):.2f}, {max(per_level):.2f}] (.spk v{a.spk_version}, {len(clips)} dev clips)")


if __name__ == "__main__":
    main()

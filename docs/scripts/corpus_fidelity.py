"""Level and chroma of a model on excerpts of the training corpus, to set beside the dev set's.

    .venv/bin/python docs/scripts/corpus_fidelity.py MODEL [--per-group 12] [--seconds 6]

From each group of data/corpus (`make data`), random excerpts (seed 0, digital silence skipped) are coded
through spikecodec.encode / decode and scored with fidelity.py's own level_db and chroma. A model that
keeps the level on its training data but not on the dev set meets a domain gap; one that loses the
notes on both has a model limit.
"""
import argparse
import glob
import os
import sys

import librosa
import numpy as np
import soundfile as sf
import torch

import spikecodec
from spikecodec.shareddata import shared_dir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--per-group", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--corpus", default="data/corpus")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(shared_dir(), "eval"))
    import fidelity
    torch.set_num_threads(1)
    model = spikecodec.load_model(a.model, device="cpu")
    rng = np.random.default_rng(0)
    for group in sorted(os.listdir(a.corpus)):
        files = sorted(glob.glob(os.path.join(a.corpus, group, "*.flac")))
        if not files:
            continue
        level, chroma = [], []
        for f in rng.choice(files, min(a.per_group, len(files)), replace=False):
            info = sf.info(f)
            n = int(a.seconds * info.samplerate)
            if info.frames <= n:
                continue
            x, sr = sf.read(f, start=int(rng.integers(0, info.frames - n)), frames=n, dtype="float32", always_2d=True)
            x = librosa.resample(x.mean(axis=1), orig_sr=sr, target_sr=fidelity.SR)
            if np.sqrt(np.mean(x ** 2)) < 1e-3:
                continue
            y, _ = spikecodec.decode(spikecodec.encode(x, fidelity.SR, model=model), model=model)
            y = y[:len(x)].mean(axis=1)
            level.append(fidelity.level_db(x, y))
            chroma.append(fidelity.chroma(x, y))
        print(f"{model.name} {group}: {len(level)} excerpts, level {np.mean(level):+.2f} dB, chroma {np.mean(chroma):.3f}")


if __name__ == "__main__":
    main()

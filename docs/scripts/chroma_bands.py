"""Which octaves lose the notes: fidelity.py's chroma over the whole range and over three octave bands
(C1-C3, C3-C5, C5-C8: librosa's chroma_cqt with fmin and n_octaves set), per dev clip, through real .spk bytes.

    python docs/scripts/chroma_bands.py [MODEL ...] [--sets music piano] [--limit N]
"""
import argparse
import os
import sys

import librosa
import numpy as np
import torch

import spikecodec
from spikecodec.shareddata import dev_clips, shared_dir

BANDS = (("C1-C3", "C1", 2), ("C3-C5", "C3", 2), ("C5-C8", "C5", 3))


def band_chroma(x: np.ndarray, y: np.ndarray, sr: int, fmin: float, octaves: int) -> float:
    cx, cy = (librosa.feature.chroma_cqt(y=s, sr=sr, hop_length=512, fmin=fmin, n_octaves=octaves) for s in (x, y))
    cos = (cx * cy).sum(0) / (np.linalg.norm(cx, axis=0) * np.linalg.norm(cy, axis=0) + 1e-12)
    return float(cos.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["default"], help="model names or checkpoint paths")
    ap.add_argument("--sets", nargs="+", default=["music", "piano"])
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, os.path.join(shared_dir(), "eval"))
    import fidelity   # the dev scorer, from ../shared/eval
    print("| model | set | chroma | " + " | ".join(name for name, _, _ in BANDS) + " |")
    print("|---|---|---|" + "---|" * len(BANDS))
    for name in a.models:
        model = spikecodec.load_model(name, device="cpu")
        for group in a.sets:
            rows = []
            for path in dev_clips(group, a.limit):
                x = fidelity.load(path)
                y, _ = spikecodec.decode(spikecodec.encode(x[:, None], fidelity.SR, model=model), model=model)
                y = y[:, 0].astype(np.float64)
                n = min(len(x), len(y))
                rows.append([fidelity.chroma(x[:n], y[:n])] + [
                    band_chroma(x[:n], y[:n], fidelity.SR, librosa.note_to_hz(low), octaves) for _, low, octaves in BANDS])
            means = np.mean(rows, axis=0)
            print(f"| {model.name} | {group} | " + " | ".join(f"{v:.3f}" for v in means) + " |", flush=True)


if __name__ == "__main__":
    main()

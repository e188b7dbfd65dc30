"""Random training crops from the corpus written by `make data` (training/corpus.py).

Everything is held in memory as float32 at 22050 Hz (about 300 MB an hour). Crops are
drawn per group (piano, ensemble, recorded) with fixed weights so the mix does not
depend on how many files each source produced.
"""
from __future__ import annotations

import glob
import os

import numpy as np
import soundfile as sf
import torch

GROUP_WEIGHTS = {"piano": 0.45, "ensemble": 0.25, "recorded": 0.30}


class CropSampler:
    def __init__(self, root: str, crop_samples: int, seed: int = 0, files: list[str] | None = None):
        files = files if files is not None else sorted(glob.glob(os.path.join(root, "*", "*.flac")))
        if not files:
            raise SystemExit(f"train: no corpus under {root}; run `make data` first")
        self.groups: dict[str, list[np.ndarray]] = {}
        for path in files:
            x, _ = sf.read(path, dtype="float32")
            if x.ndim > 1:
                x = x.mean(axis=1)
            if len(x) > crop_samples:
                self.groups.setdefault(os.path.basename(os.path.dirname(path)), []).append(x)
        names = sorted(self.groups)
        w = np.array([GROUP_WEIGHTS.get(n, 0.1) for n in names])
        self.names, self.weights = names, w / w.sum()
        self.crop = crop_samples
        self.rng = np.random.default_rng(seed)
        self.seconds = {n: sum(len(x) for x in xs) / 22050 for n, xs in self.groups.items()}

    def _one(self) -> np.ndarray:
        for _ in range(20):
            group = self.groups[self.names[self.rng.choice(len(self.names), p=self.weights)]]
            x = group[self.rng.integers(len(group))]
            i = self.rng.integers(0, len(x) - self.crop)
            crop = x[i:i + self.crop]
            if np.sqrt(np.mean(crop ** 2)) > 1e-3:  # skip near-silent crops
                break
        gain = 10 ** (self.rng.uniform(-10, 3) / 20) / max(1e-3, float(np.abs(crop).max()))
        return crop * min(gain, 1.0 / max(1e-3, float(np.abs(crop).max())))

    def batch(self, size: int) -> torch.Tensor:
        """(size, crop_samples) float32."""
        return torch.from_numpy(np.stack([self._one() for _ in range(size)]))

    def state(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state(self, s: dict) -> None:
        self.rng.bit_generator.state = s["bit_generator"]

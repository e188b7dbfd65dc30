"""Synthesize examples/piano.flac, the short clip `make demo` encodes.

A few seconds of piano-like tones: each note is a sum of slightly inharmonic
partials (f_k = k f0 sqrt(1 + B k^2)), each with its own exponential decay
(higher partials die faster), a soft hammer "thump" of filtered noise at the
onset, and a short release. A C-major arpeggio, then a chord. Deterministic
(fixed seed), mono, 24 kHz, 16-bit FLAC, well under 200 kB.

    .venv/bin/python examples/make_piano.py
"""
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 24000
SECONDS = 4.0


def note(midi: int, dur: float, sr: int, rng: np.random.Generator, vel: float = 1.0) -> np.ndarray:
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    n = int(dur * sr)
    t = np.arange(n) / sr
    b = 1e-4  # string inharmonicity
    out = np.zeros(n)
    for k in range(1, 16):
        fk = k * f0 * np.sqrt(1 + b * k * k)
        if fk > sr / 2 * 0.9:
            break
        amp = vel / k ** 1.3
        decay = 1.2 + 0.6 * k  # 1/s
        out += amp * np.exp(-decay * t) * np.sin(2 * np.pi * fk * t + rng.uniform(0, 2 * np.pi))
    attack = np.minimum(t / 0.004, 1.0)
    thump = rng.standard_normal(n) * np.exp(-t / 0.01) * 0.05 * vel
    thump = np.convolve(thump, np.ones(8) / 8, mode="same")
    release = np.clip((dur - t) / 0.05, 0.0, 1.0)
    return (out * attack + thump) * release


def main() -> None:
    rng = np.random.default_rng(20261121)
    total = np.zeros(int(SECONDS * SR))
    # arpeggio C4 E4 G4 C5 E5 G5, then a C-major chord
    for i, m in enumerate([60, 64, 67, 72, 76, 79]):
        start = int(i * 0.3 * SR)
        x = note(m, 1.6, SR, rng, vel=0.8)
        total[start:start + len(x)] += x[: len(total) - start]
    start = int(2.0 * SR)
    for m in (48, 60, 64, 67):
        x = note(m, 2.0, SR, rng, vel=0.7)
        total[start:start + len(x)] += x[: len(total) - start]
    total *= 0.5 / np.max(np.abs(total))
    out = Path(__file__).with_name("piano.flac")
    sf.write(out, total.astype(np.float32), SR, subtype="PCM_16")
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(total) / SR:.1f} s at {SR} Hz)")


if __name__ == "__main__":
    main()

"""Write a golden .spk file, and its expected decoded audio, for a released model.

    python tests/golden/make_golden.py NAME [NAME ...]      # e.g. free sparse mu

Run it ONCE per model, when the model is released (added to checkpoints/models.json), and
commit what it writes: tests/golden/NAME-ID.spk, NAME-ID.flac (the decoded audio) and the
entry in tests/golden/golden.json. Never regenerate the files of a model already released:
tests/test_golden.py decodes them on every run, and a change that makes them decode
differently strands every user's files made with that model (docs/models.md).

Input: 1.5 s slices of examples/piano.flac (24 kHz, so encoding and decoding resample to
and from the model rate); the `stereo` models get two different slices as two channels.
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

STEREO = {"mu"}       # models whose golden file has two channels


def clip(channels: int) -> tuple[np.ndarray, int]:
    x, sr = sf.read(str(REPO / "examples" / "piano.flac"), dtype="float32", always_2d=True)
    starts = (0.5, 2.0)[:channels]
    n = int(1.5 * sr)
    return np.stack([x[int(s * sr):int(s * sr) + n, 0] for s in starts], axis=1), sr


def main(names: list[str]) -> None:
    import spikecodec
    from spikecodec.bitstream import read_spk
    manifest_path = HERE / "golden.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": []}
    for name in names:
        model = spikecodec.load_model(name, device="cpu")
        stem = f"{model.name}-{model.model_id}"
        if any(f["spk"] == f"{stem}.spk" for f in manifest["files"]):
            sys.exit(f"{stem}.spk already exists: golden files of a released model are never remade")
        x, sr = clip(2 if model.name in STEREO else 1)
        data = spikecodec.encode(x, sr, model=model)
        y, rate = spikecodec.decode(data)           # by the id in the file, as a user's decoder would
        (HERE / f"{stem}.spk").write_bytes(data)
        buf = io.BytesIO()
        sf.write(buf, y, rate, format="FLAC", subtype="PCM_24")
        (HERE / f"{stem}.flac").write_bytes(buf.getvalue())
        h = read_spk(data).header
        manifest["files"].append({"spk": f"{stem}.spk", "expected": f"{stem}.flac", "model": model.name,
                                  "model_id": model.model_id, "channels": h.channels,
                                  "sample_rate": h.source_sample_rate, "num_samples": h.num_samples,
                                  "input": f"examples/piano.flac, 1.5 s from {'0.5 s and 2.0 s' if h.channels == 2 else '0.5 s'}"})
        print(f"{stem}: {len(data)} bytes, {h.channels} ch, {rate} Hz, peak {np.abs(y).max():.3f}")
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or ["free", "sparse", "mu"])

"""Measure a model on the dev set through the real codec path: audio -> .spk bytes -> audio.

    python -m spikecodec.training.evaluate --model mu [--level 13 | --quality-floor 0.6 | --target-kbps 2.5]
                                           [--sets piano music] [--no-visqol] [--json out.json]

Bit-rates are real file sizes (container included) over the clip duration. Quality comes
from the reference scorer itself (shared/eval/score.py, run as a subprocess), so the
figures in model cards are the scorer's own.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

from .. import compress
from ..bitstream import inspect_spk
from ..checkpoint import load_model
from .corpus import _shared_dir


def evaluate(model: str, sets=("piano", "music"), level=None, quality_floor=None, target_kbps=None,
             visqol=True, out_dir=None, shared=None, limit=None) -> dict:
    if out_dir is None:  # decoded files go to a temporary folder, removed on every exit path
        with tempfile.TemporaryDirectory(prefix="spikecodec-eval-") as tmp:
            return evaluate(model, sets, level, quality_floor, target_kbps, visqol, tmp, shared, limit)
    import torch
    shared = shared or _shared_dir()
    lm = load_model(model, device="cpu")
    result = {"model": lm.name, "model_id": lm.model_id, "path": lm.path, "level": level,
              "quality_floor": quality_floor, "target_kbps": target_kbps, "threads": torch.get_num_threads(),
              "sets": {}}
    for name in sets:
        ref_dir = os.path.join(shared, "eval", "dev", name)
        dec_dir = os.path.join(out_dir, name)
        os.makedirs(dec_dir, exist_ok=True)
        clips, seconds, enc_t, dec_t = [], 0.0, 0.0, 0.0
        refs = sorted(glob.glob(os.path.join(ref_dir, "*.flac")))[:limit]
        if limit:   # the scorer wants a decoded file for every reference in its folder
            sub = os.path.join(out_dir, "ref-" + name)
            os.makedirs(sub, exist_ok=True)
            for r in refs:
                if not os.path.exists(os.path.join(sub, os.path.basename(r))):
                    os.symlink(r, os.path.join(sub, os.path.basename(r)))
            ref_dir = sub
        for path in refs:
            x, sr = sf.read(path, dtype="float32")
            t0 = time.perf_counter()
            data = compress.encode(x, sr, model=lm, level=level, quality_floor=quality_floor, target_kbps=target_kbps)
            t1 = time.perf_counter()
            y, rate = compress.decode(data, model=lm)
            t2 = time.perf_counter()
            sf.write(os.path.join(dec_dir, os.path.basename(path)[:-5] + ".wav"), y, rate, subtype="FLOAT")
            info = inspect_spk(data)
            dur = len(x) / sr
            events = sum(c.events for c in info.clips)
            cells = sum(c.frames for c in info.clips) * info.header.units
            levels = [c.level for c in info.clips if c.level is not None]
            clips.append({"clip": os.path.basename(path)[:-5], "kbps": 8 * len(data) / dur / 1000,
                          "density": events / max(1, cells), "levels": levels})
            seconds, enc_t, dec_t = seconds + dur, enc_t + t1 - t0, dec_t + t2 - t1
        cmd = [sys.executable, os.path.join(shared, "eval", "score.py"), ref_dir, dec_dir, "--json"]
        if not visqol:
            cmd.append("--no-visqol")
        scored = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        kbps = np.array([c["kbps"] for c in clips])
        result["sets"][name] = {
            "clips": len(clips), "kbps_mean": float(kbps.mean()), "kbps_min": float(kbps.min()),
            "kbps_max": float(kbps.max()), "density_mean": float(np.mean([c["density"] for c in clips])),
            "encode_xrt": seconds / enc_t, "decode_xrt": seconds / dec_t,
            "scores": scored.get("mean", scored.get("means")), "per_clip": clips, "score_config": scored.get("config"),
            "score_files": scored.get("files"),
        }
    return result


def summary_lines(r: dict) -> list[str]:
    lines = [f"model {r['model']} ({r['model_id']})" + (f" level {r['level']}" if r["level"] is not None else "")
             + (f" floor {r['quality_floor']}" if r["quality_floor"] is not None else "")
             + (f" target {r['target_kbps']} kbps" if r["target_kbps"] is not None else "")]
    for name, s in r["sets"].items():
        sc = s["scores"] or {}
        lines.append(f"  {name:6s} {s['kbps_mean']:.3f} kbps ({s['kbps_min']:.2f}-{s['kbps_max']:.2f})  "
                     f"LMD {sc.get('lmd', float('nan')):.3f}  ViSQOL {sc.get('visqol', float('nan')) or float('nan'):.3f}  "
                     f"MR-STFT {sc.get('mrstft', float('nan')):.3f}  SI-SNR {sc.get('si_snr', float('nan')):.1f} dB  "
                     f"density {s['density_mean']:.3f}  enc {s['encode_xrt']:.0f}x dec {s['decode_xrt']:.0f}x")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Evaluate a spikecodec model on the dev set.")
    ap.add_argument("--model", default="default")
    ap.add_argument("--level", type=int)
    ap.add_argument("--quality-floor", type=float)
    ap.add_argument("--target-kbps", type=float)
    ap.add_argument("--sets", nargs="+", default=["piano", "music"])
    ap.add_argument("--no-visqol", action="store_true")
    ap.add_argument("--limit", type=int, help="first N clips per set (quick checks)")
    ap.add_argument("--out-dir")
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    from ..shareddata import require
    require("evaluate", [f"eval/dev/{name}" for name in a.sets] + ["eval/score.py"], shared=_shared_dir())
    import torch
    torch.set_num_threads(a.threads)
    r = evaluate(a.model, a.sets, a.level, a.quality_floor, a.target_kbps, not a.no_visqol, a.out_dir, limit=a.limit)
    print("\n".join(summary_lines(r)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()

"""Measure a model on the dev set through the real codec path: audio -> .spk bytes -> audio.

    python -m spikecodec.training.evaluate --model mu [--level 13 | --quality-floor 0.6 | --target-kbps 2.5]
                                           [--sets piano music] [--no-visqol] [--json out.json]

Bit-rates are real file sizes (container included) over the clip duration. Quality comes
from the reference scorer itself (shared/eval/score.py, run as a subprocess), so the
figures in model cards are the scorer's own.
"""
from __future__ import annotations

import argparse
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
from ..shareddata import dev_clips, link_references, require, shared_dir


def evaluate(model: str, sets=("piano", "music"), level=None, quality_floor=None, target_kbps=None,
             visqol=True, out_dir=None, shared=None, limit=None, notes=True, input_rate=None,
             input_channels=1, fidelity=True) -> dict:
    """input_rate / input_channels: code each clip as a user's file would arrive (e.g. 44.1 kHz stereo):
    resampled with libsoxr VHQ and copied to every channel; the scorers down-mix and resample back."""
    if out_dir is None:  # decoded files go to a temporary folder, removed on every exit path
        with tempfile.TemporaryDirectory(prefix="spikecodec-eval-") as tmp:
            return evaluate(model, sets, level, quality_floor, target_kbps, visqol, tmp, shared, limit, notes,
                            input_rate, input_channels, fidelity)
    import torch
    shared = shared or shared_dir()
    loaded = load_model(model, device="cpu")
    result = {"model": loaded.name, "model_id": loaded.model_id, "path": loaded.path, "level": level,
              "input_rate": input_rate, "input_channels": input_channels if input_rate else None,
              "quality_floor": quality_floor, "target_kbps": target_kbps, "threads": torch.get_num_threads(),
              "sets": {}}
    for name in sets:
        ref_dir = os.path.join(shared, "eval", "dev", name)
        dec_dir = os.path.join(out_dir, name)
        os.makedirs(dec_dir, exist_ok=True)
        clips, seconds, enc_t, dec_t = [], 0.0, 0.0, 0.0
        refs = dev_clips(name, limit, shared)
        if limit:   # the scorer wants a decoded file for every reference in its folder
            ref_dir = link_references(refs, os.path.join(out_dir, "ref-" + name))
        for path in refs:
            x, sr = sf.read(path, dtype="float32")
            if input_rate:
                import soxr
                x = soxr.resample(x, sr, input_rate, quality="VHQ").astype(np.float32)
                x, sr = np.repeat(x[:, None], input_channels, axis=1), input_rate
            t0 = time.perf_counter()
            data = compress.encode(x, sr, model=loaded, level=level, quality_floor=quality_floor, target_kbps=target_kbps)
            t1 = time.perf_counter()
            y, rate = compress.decode(data, model=loaded)
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
        # What the log-mel distance and ViSQOL cannot see: level, attacks, notes (the second scorer).
        fid_cmd = [sys.executable, os.path.join(shared, "eval", "fidelity.py"), ref_dir, dec_dir, "--json"]
        if not notes:
            fid_cmd.append("--no-notes")
        fid = json.loads(subprocess.run(fid_cmd, check=True, capture_output=True, text=True).stdout) \
            if fidelity else {}
        kbps = np.array([c["kbps"] for c in clips])
        result["sets"][name] = {
            "clips": len(clips), "kbps_mean": float(kbps.mean()), "kbps_min": float(kbps.min()),
            "kbps_max": float(kbps.max()), "density_mean": float(np.mean([c["density"] for c in clips])),
            "encode_xrt": seconds / enc_t, "decode_xrt": seconds / dec_t,
            "scores": scored.get("mean", scored.get("means")), "per_clip": clips, "score_config": scored.get("config"),
            "score_files": scored.get("files"),
            "fidelity": fid.get("mean"), "fidelity_files": fid.get("files"),
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
        fd = s.get("fidelity") or {}
        lines.append(f"  {'':6s} level {fd.get('level_db', float('nan')):+.2f} dB  onset r {fd.get('onset_r', float('nan')):.3f}  "
                     f"chroma {fd.get('chroma', float('nan')):.3f}  fine LSD {fd.get('fine_lsd', float('nan')):.2f} dB"
                     + (f"  note F1 {fd['note_f1']:.3f}" if "note_f1" in fd else ""))
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Evaluate a spikecodec model on the dev set.")
    ap.add_argument("--model", default="default")
    ap.add_argument("--level", type=int)
    ap.add_argument("--quality-floor", type=float)
    ap.add_argument("--target-kbps", type=float)
    ap.add_argument("--sets", nargs="+", default=["piano", "music"])
    ap.add_argument("--no-visqol", action="store_true")
    ap.add_argument("--no-notes", action="store_true", help="skip fidelity.py's transcription (note F1)")
    ap.add_argument("--input-rate", type=int, help="resample each clip to this rate before coding (e.g. 44100)")
    ap.add_argument("--input-channels", type=int, default=1, help="with --input-rate: copies per channel (2 = stereo)")
    ap.add_argument("--limit", type=int, help="first N clips per set (quick checks)")
    ap.add_argument("--out-dir")
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    require("evaluate", [f"eval/dev/{name}" for name in a.sets] + ["eval/score.py", "eval/fidelity.py"])
    import torch
    torch.set_num_threads(a.threads)
    r = evaluate(a.model, a.sets, a.level, a.quality_floor, a.target_kbps, not a.no_visqol, a.out_dir, limit=a.limit,
                 notes=not a.no_notes, input_rate=a.input_rate, input_channels=a.input_channels)
    print("\n".join(summary_lines(r)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()

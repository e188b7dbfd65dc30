"""Figures and numbers for docs/events.md "Shipped models", from the shipped checkpoints.

    .venv/bin/python docs/scripts/shipped_events.py [--shared ../shared] > /tmp/section.md

Encodes the dev piano clips with each shipped model, draws one raster with its decoded
spectrogram per model (docs/img/events-<model>.png), and runs the note-selectivity
analysis (spikecodec.events.analyze, 200 shuffles, alpha 0.01) on all 16 clips against
their onset CSVs. Prints the markdown section with the measured numbers.
"""
import argparse
import os

import numpy as np
import soundfile as sf
import torch

import spikecodec
from spikecodec.bitstream import inspect_spk
from spikecodec.events import analyze, plot_events
from spikecodec.shareddata import dev_clips, shared_dir

CLIP = "bach_bwv846_prelude"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=shared_dir())
    ap.add_argument("--models", nargs="+", default=["sparse", "mu", "free"])
    a = ap.parse_args()
    torch.set_num_threads(2)
    clips = dev_clips("piano", shared=a.shared)
    if not clips:  # not tables of "0 clips, nan kbps"
        raise SystemExit(f"shipped_events.py: error: no dev-set piano clips (eval/dev/piano/*.flac with their .csv "
                         f"onsets) under {os.path.abspath(a.shared)}; give --shared DIR (the evaluation data folder)")
    out = ["| model | clips | bit-rate kbps | density | unit-note pairs | selective (p <= 0.01) | expected by chance | "
           "units with a selective note | of which 1-2 notes only | of which >= 1/3 of the notes |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    tops = {}
    for name in a.models:
        model = spikecodec.load_model(name)
        pairs = sel = units_sel = units_total = specific = broad = 0
        expected, kbps, dens, best = 0.0, [], [], []
        for path in clips:
            x, sr = sf.read(path, dtype="float32")
            data = spikecodec.encode(x, sr, model=model)
            info = inspect_spk(data)
            kbps.append(info.bitrate_kbps)
            dens.append(sum(c.events for c in info.clips) / (info.header.num_frames * info.header.units))
            res = analyze(data, path[:-5] + ".csv", n_shuffles=200, seed=0, alpha=0.01)
            pairs, sel, expected = pairs + res.n_pairs, sel + res.n_selective, expected + res.expected_by_chance
            per_unit = res.selective.sum(axis=1)
            units_sel += int((per_unit > 0).sum())
            # a unit locked to one or two pitches vs one that follows onsets of many notes
            specific += int(((per_unit > 0) & (per_unit <= 2)).sum())
            broad += int((per_unit >= max(3, len(res.pitches) // 3)).sum())
            units_total += res.units
            best += [dict(p, clip=os.path.basename(path)[:-5]) for p in res.top_pairs(3)]
            if os.path.basename(path)[:-5] == CLIP:
                png = os.path.join("docs", "img", f"events-{name}.png")
                plot_events(data, png, spectrogram=True, audio=None, model=model, start=0.0, end=6.0, width=1100,
                            title=f"{name}: {CLIP}, {info.bitrate_kbps:.2f} kbps")
                if name == "sparse":
                    res.heatmap(os.path.join("docs", "img", f"analyze-{name}.png"), max_units=40, width=1000)
        tops[name] = sorted(best, key=lambda p: -(p["zscore"] or 0))[:5]
        out.append(f"| {name} ({model.model_id}) | {len(clips)} | {np.mean(kbps):.2f} | {np.mean(dens):.3f} | {pairs} | "
                   f"{sel} | {expected:.0f} | {units_sel} / {units_total} unit-clips | {specific} | {broad} |")
    print("\n".join(out))
    for name, t in tops.items():
        print(f"\nStrongest pairs, {name}: " + "; ".join(
            f"{p['clip']} unit {p['unit']} / {p['note']} (phi {p['phi']:.2f}, "
            f"z {'inf' if p['zscore'] is None else format(p['zscore'], '.1f')}, p {p['p']:.3f}, lag {p['peak_lag']})"
            for p in t))


if __name__ == "__main__":
    main()

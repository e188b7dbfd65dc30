"""A spectral postfilter on the decoder's magnitudes (issue 13, fifth round of docs/decoder-ablation.md).

Speech codecs sharpen their decoded spectra with a postfilter; this asks whether the same lifts the
chroma of a model whose partials come out smeared. Per frame, before phase retrieval, each variant
reshapes the decoder's log-magnitude L and restores the frame's energy (so it adds no reach in time):
  * powG: L * G (peaks over valleys, globally);
  * peakB[kK]: L + B * (L - L smoothed over K frequency bins, default 9) (peaks over the local envelope).
Scored on the first N clips of each dev set against the 22.05 kHz input, the network path in memory
(no container): fidelity.py's level, onset r, chroma and fine LSD, score.py's log-mel distance.

    .venv/bin/python docs/scripts/postfilter_probe.py [--model mu4] [--limit 4] [--iters N]
                                                      [--variants none pow1.2 pow1.4 peak0.5 peak1.0]
"""
import argparse
import os
import sys

import numpy as np
import soundfile as sf
import torch

import spikecodec
from spikecodec.shareddata import dev_clips, shared_dir

sys.path.insert(0, os.path.join(shared_dir(), "eval"))
import fidelity
import score


def keep_frame_energy(shaped, log_mag):
    """Shift each frame of `shaped` so that its energy is that of `log_mag`; silent (-inf) frames stay."""
    gain = torch.logsumexp(2 * log_mag, dim=1, keepdim=True) - torch.logsumexp(2 * shaped, dim=1, keepdim=True)
    return torch.where(torch.isfinite(log_mag), shaped + 0.5 * gain, log_mag)


def smooth_over_frequency(log_mag, bins):
    finite = torch.where(torch.isfinite(log_mag), log_mag, torch.full_like(log_mag, -30.0))
    b, f, t = finite.shape
    rows = finite.permute(0, 2, 1).reshape(b * t, 1, f)
    rows = torch.nn.functional.pad(rows, (bins // 2, bins // 2), mode="replicate")
    return torch.nn.functional.conv1d(rows, torch.ones(1, 1, bins) / bins).reshape(b, t, f).permute(0, 2, 1)


def postfilter(variant, log_mag):
    if variant == "none":
        return log_mag
    if variant.startswith("pow"):
        return keep_frame_energy(float(variant[3:]) * log_mag, log_mag)
    if variant.startswith("peak"):
        strength, _, bins = variant[4:].partition("k")
        envelope = smooth_over_frequency(log_mag, int(bins or 9))
        return keep_frame_energy(log_mag + float(strength) * (log_mag - envelope), log_mag)
    raise SystemExit(f"postfilter_probe: unknown variant {variant!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mu4")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--variants", nargs="*", default=["none", "pow1.2", "pow1.4", "peak0.5", "peak1.0"])
    ap.add_argument("--iters", type=int, default=None, help="phase-retrieval iterations (default: the model's)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    m = spikecodec.load_model(a.model, device="cpu")
    net, c = m.net, m.net.config
    if a.iters is not None:
        c.phase_iterations = a.iters
    rows: dict = {}
    for group in ("piano", "music"):
        for path in dev_clips(group, a.limit):
            x, _ = sf.read(path, dtype="float32")
            n = len(x) // c.hop * c.hop
            reference = x[:n].astype(np.float64)
            with torch.no_grad():
                log_mag, phase = net.decode_log_magnitude(net.encode_frames(torch.from_numpy(x[:n])[None]))
                for v in a.variants:
                    y = net.synthesize(postfilter(v, log_mag), phase)[0].numpy().astype(np.float64)[:n]
                    rows.setdefault((group, v), []).append(
                        [fidelity.level_db(reference, y), fidelity.onset_r(reference, y), fidelity.chroma(reference, y),
                         fidelity.fine_lsd(reference, y), score.log_mel_distance(reference, y)])
    print(f"model {a.model}, {c.phase_iterations} phase iterations, first {a.limit} clips per set")
    print("| set | postfilter | level dB | onset r | chroma | fine LSD | LMD |\n|---|---|---|---|---|---|---|")
    for (group, v), r in rows.items():
        print(f"| {group} | {v} | " + " | ".join(f"{x:.3f}" for x in np.mean(r, 0)) + " |")


if __name__ == "__main__":
    main()

"""Where a model loses the notes: its magnitudes or its phase. Each dev clip is coded by the model; the
decoder's magnitudes and the clip's true STFT magnitudes are each given several phases, overlap-added at
the model's framing and scored by fidelity.py's chroma and level (docs/decoder-ablation.md, eighth round).

    python docs/scripts/phase_oracle.py MODEL [--sets music piano] [--limit N] [--threads 1]
"""
import argparse
import os
import sys

import numpy as np
import torch

import spikecodec
from spikecodec.model.phase import analyse, griffin_lim, peak_locked_phase
from spikecodec.shareddata import dev_clips, shared_dir


def variants(net, audio):
    """name -> decoded (1, samples) for one clip (1, samples) at the model rate."""
    c = net.config
    level = c.default_level if c.num_levels else None
    z = net.encode_frames(audio, level)
    log_mag, own_phase = net.decode_log_magnitude(z, level)
    mag = torch.exp(log_mag)
    true = analyse(audio, c.n_fft, c.hop)
    frames = min(mag.shape[-1], true.shape[-1])
    mag, own_phase, true = mag[..., :frames], own_phase[..., :frames], true[..., :frames]

    def gl(m, p, n):
        return griffin_lim(m, p, c.n_fft, c.hop, n, c.phase_momentum)
    return {
        "as shipped": net.decode_frames(z, level),
        "decoder magnitude, decoder phase, 4 GL iterations": gl(mag, own_phase, 4),
        "decoder magnitude, true phase": gl(mag, true.angle(), 0),
        "decoder magnitude, peak-locked phase": gl(mag, peak_locked_phase(mag, c.n_fft, c.hop)[0], 0),
        "decoder magnitude, peak-locked phase, 1 GL iteration": gl(mag, peak_locked_phase(mag, c.n_fft, c.hop)[0], 1),
        "true magnitude, decoder phase, 4 GL iterations": gl(true.abs(), own_phase, 4),
        "true magnitude, decoder phase, 32 GL iterations": gl(true.abs(), own_phase, 32),
        "true magnitude, peak-locked phase": gl(true.abs(), peak_locked_phase(true.abs(), c.n_fft, c.hop)[0], 0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--sets", nargs="+", default=["music", "piano"])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sys.path.insert(0, os.path.join(shared_dir(), "eval"))
    import fidelity   # the dev scorer, from ../shared/eval
    net = spikecodec.load_model(a.model, device="cpu").net
    for group in a.sets:
        scores: dict[str, list] = {}
        for path in dev_clips(group, a.limit):
            x = fidelity.load(path)
            x = x[:len(x) // net.config.hop * net.config.hop]
            with torch.inference_mode():
                outs = variants(net, torch.from_numpy(x.astype(np.float32))[None])
            for name, y in outs.items():
                y = y[0].numpy().astype(np.float64)
                n = min(len(x), len(y))
                scores.setdefault(name, []).append((fidelity.chroma(x[:n], y[:n]), fidelity.level_db(x[:n], y[:n])))
        print(f"\n{a.model}, {group} ({len(next(iter(scores.values())))} clips)\n")
        print("| magnitude, phase | chroma | level dB |\n|---|---|---|")
        for name, rows in scores.items():
            r = np.array(rows)
            print(f"| {name} | {r[:, 0].mean():.3f} | {r[:, 1].mean():+.2f} |")


if __name__ == "__main__":
    main()

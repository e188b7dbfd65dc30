"""Spectrograms of one dev clip: the reference and each model's decoding (0-3 kHz, where the partials are).

    python docs/scripts/decoder_spectrograms.py [CLIP.flac] [--models mu mu2] [-o docs/img/decoder-spectrograms.png]
"""
import argparse
import os

import numpy as np
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import spikecodec
from spikecodec.shareddata import shared_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=os.path.join(shared_dir(), "eval", "dev", "piano", "chopin_mazurka_op6n2.flac"))
    ap.add_argument("--models", nargs="+", default=["mu", "mu2"], help="model names or checkpoint paths")
    ap.add_argument("-o", "--out", default="docs/img/decoder-spectrograms.png")
    a = ap.parse_args()
    x, sr = sf.read(a.clip, dtype="float32")
    panels = [("reference", x)]
    for name in a.models:
        model = spikecodec.load_model(name, device="cpu")
        data = spikecodec.encode(x, sr, model=model)
        y, _ = spikecodec.decode(data, model=model)
        panels.append((f"{model.name} ({8 * len(data) / (len(x) / sr) / 1000:.2f} kbps)", y[:, 0]))
    fig = Figure(figsize=(12, 3 * len(panels)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True)
    window = np.hanning(2048)
    for ax, (title, s) in zip(axes, panels):
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(s, 1024), 2048)[::256] * window
        mag = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
        top = int(3000 / (sr / 2048))
        rms = 20 * np.log10(np.sqrt(np.mean(s ** 2)) + 1e-12)
        ax.imshow(mag[:top], origin="lower", aspect="auto", vmin=mag.max() - 80, vmax=mag.max(), cmap="magma",
                  extent=(0, len(s) / sr, 0, top * sr / 2048))
        ax.set_title(f"{title}: RMS {rms:.1f} dBFS", fontsize=10)
        ax.set_ylabel("Hz")
    axes[-1].set_xlabel(f"seconds ({os.path.basename(a.clip)}; n_fft 2048, hop 256)")
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

"""Where a model's level loss comes from (issue 13's |level| <= 1 dB), on the first N clips of each dev set.

    .venv/bin/python docs/scripts/level_probe.py [--model default] [--limit 6] [--floors 1e-5 1e-4 1e-3 1e-2]
                                                [--lowpass 0.95 0.9 0.82]

Per set, mean over clips, in dB against the input (fidelity.py's level: 20 log10 RMS(y) / RMS(x)):
  * output: the decoded audio at 22.05 kHz (the network path: encode_frames, decode_log_magnitude, synthesize);
  * predicted magnitude: the energy of the decoder's own magnitudes (before phase retrieval) against the
    input's STFT energy at the same framing; the gap to "output" is what phase retrieval loses;
  * 44.1 kHz round trip: the input resampled to 44.1 kHz and back (soxr VHQ both ways: the same level, an
    empty band above ~10.4 kHz) and coded at 22.05 kHz through spikecodec.encode/decode;
  * 44.1 kHz stereo input, codec resampler HQ (as shipped) / VHQ / LQ: the clip resampled to 44.1 kHz,
    copied to two channels, coded, down-mixed and resampled back to 22.05 kHz;
  * with --floors: the output level at 22.05 kHz and after the 44.1 kHz round trip for each encoder input
    floor (the model's input_floor, set in memory);
  * with --lowpass: the output level when the 22.05 kHz input is first brick-wall low-passed (FFT) at
    these fractions of Nyquist.
"""
import argparse

import numpy as np
import soundfile as sf
import soxr
import torch

import spikecodec
from spikecodec.model.phase import analyse
from spikecodec.shareddata import dev_clips, shared_dir


def level(x, y):
    n = min(len(x), len(y))
    return 20 * np.log10(np.sqrt(np.mean(y[:n] ** 2)) / np.sqrt(np.mean(x[:n] ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--floors", type=float, nargs="*", default=[])
    ap.add_argument("--lowpass", type=float, nargs="*", default=[])
    ap.add_argument("--shared", default=shared_dir())
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    m = spikecodec.load_model(a.model, device="cpu")
    net, c = m.net, m.net.config
    stream = soxr.ResampleStream

    def codec_resampler(quality):
        def make(*args, **kw):
            return stream(*args, **{**kw, "quality": quality})
        return make

    print(f"model {m.name}, first {a.limit} clips per set; dB against the input")
    print("| set | output | predicted magnitude | 44.1 kHz round trip, coded at 22.05 kHz | 44.1 kHz stereo, "
          "resampler HQ (shipped) | VHQ | LQ |")
    print("|---|---|---|---|---|---|---|")
    for group in ("piano", "music"):
        rows = []
        for path in dev_clips(group, a.limit, a.shared):
            x, sr = sf.read(path, dtype="float32")
            n = len(x) // c.hop * c.hop
            xt = torch.from_numpy(x[:n])[None]
            with torch.no_grad():
                log_mag, phase = net.decode_log_magnitude(net.encode_frames(xt))
                y = net.synthesize(log_mag, phase)[0].numpy()
                predicted = float(torch.exp(2 * log_mag).sum()) / float((analyse(xt, c.n_fft, c.hop).abs() ** 2).sum())
            x44 = soxr.resample(x, sr, 44100, quality="VHQ").astype(np.float32)
            x_rt = soxr.resample(x44, 44100, sr, quality="VHQ").astype(np.float32)
            y_rt, _ = spikecodec.decode(spikecodec.encode(x_rt, sr, model=m), model=m)
            row = [level(x[:n], y), 10 * np.log10(predicted), level(x, y_rt)]
            for q in ("HQ", "VHQ", "LQ"):
                soxr.ResampleStream = codec_resampler(q)
                try:
                    y44, rate = spikecodec.decode(spikecodec.encode(np.repeat(x44[:, None], 2, 1), 44100, model=m),
                                                  model=m)
                finally:
                    soxr.ResampleStream = stream
                row.append(level(x, soxr.resample(y44.mean(axis=1), rate, sr, quality="VHQ")))
            rows.append(row)
        r = np.mean(rows, axis=0)
        print(f"| {group} | " + " | ".join(f"{v:+.2f}" for v in r) + " |")
    if a.floors:
        floor_sweep(m, a)
    if a.lowpass:
        lowpass_sweep(m, a)


def lowpass_sweep(m, a):
    print("\n| set | brick-wall low-pass (fraction of Nyquist) | output |")
    print("|---|---|---|")
    for group in ("piano", "music"):
        levels: dict = {}
        for path in dev_clips(group, a.limit, a.shared):
            x, sr = sf.read(path, dtype="float32")
            for frac in a.lowpass:
                spec = np.fft.rfft(x)
                spec[int(frac * len(spec)):] = 0
                cut = np.fft.irfft(spec, n=len(x)).astype(np.float32)
                levels.setdefault(frac, []).append(level(x, spikecodec.decode(spikecodec.encode(cut, sr, model=m),
                                                                              model=m)[0]))
        for frac, v in levels.items():
            print(f"| {group} | {frac:g} | {np.mean(v):+.2f} |")


def floor_sweep(m, a):
    print("\n| set | input floor | output, 22.05 kHz input | output, 44.1 kHz round trip |")
    print("|---|---|---|---|")
    shipped = m.net.encoder.floor
    for group in ("piano", "music"):
        clips = []
        for path in dev_clips(group, a.limit, a.shared):
            x, sr = sf.read(path, dtype="float32")
            x_rt = soxr.resample(soxr.resample(x, sr, 44100, quality="VHQ"), 44100, sr, quality="VHQ")
            clips.append((x, x_rt.astype(np.float32), sr))
        for floor in a.floors:
            m.net.encoder.floor = floor
            try:
                r = np.mean([[level(x, spikecodec.decode(spikecodec.encode(inp, sr, model=m), model=m)[0])
                              for inp in (x, x_rt)] for x, x_rt, sr in clips], axis=0)
            finally:
                m.net.encoder.floor = shipped
            print(f"| {group} | {floor:g} | {r[0]:+.2f} | {r[1]:+.2f} |")


if __name__ == "__main__":
    main()

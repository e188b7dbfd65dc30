"""Where the .spk v2 container's time goes on one dev clip, in process (issue 9's 2 % budget).

    .venv/bin/python docs/scripts/ctx_time.py [--models default mu] [--threads 2] [--hour] [--shared ../shared]

For each model: a whole spikecodec.encode / decode of the first piano dev clip (best of 7), write_spk /
read_spk of its z as v1 and as v2 (best of 50), and the ctx layout's parts (best of 200): on the C core
(ctx_encode, ctx_decode with its re-encode check) and on the reference path (numpy context model
ctx._model, constriction's coder encode and decode in one call, the lockstep ctx_decode). With --hour, the
same container calls on a 1-hour z (80 units x 155 040 frames, one channel; i.i.d. and in runs), best of 3.
Run it on an idle machine.
"""
import argparse
import os

import constriction
import numpy as np
import soundfile as sf
import torch

import spikecodec
from spikecodec.bitstream import ctx, read_spk, write_spk
from spikecodec.shareddata import dev_clips, shared_dir
from spikecodec.bitstream.bench import SAMPLE_RATE, UNITS, bench_header, best_time, runs_z


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["default", "mu"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hour", action="store_true", help="also time the container on a 1-hour z")
    ap.add_argument("--shared", default=shared_dir())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = dev_clips("piano", 1, a.shared)[0]
    x, sr = sf.read(path, dtype="float32")
    print(f"{os.path.basename(path)}: {len(x) / sr:.2f} s, torch threads {a.threads}")
    print("| model | .spk | encode ms | pack ms | pack share | decode ms | unpack ms | unpack share |")
    print("|---|---|---|---|---|---|---|---|")
    parts: dict = {}
    for name in a.models:
        model = spikecodec.load_model(name, device="cpu")
        for v in (1, 2):
            data = spikecodec.encode(x, sr, model=model, spk_version=v)
            spk = read_spk(data)
            enc = best_time(lambda: spikecodec.encode(x, sr, model=model, spk_version=v), 7)
            dec = best_time(lambda: spikecodec.decode(data, model=model), 7)
            pack = best_time(lambda: write_spk(spk.header, spk.z, spk.levels, version=v), 50)
            unpack = best_time(lambda: read_spk(data), 50)
            print(f"| {model.name} | v{v} | {1e3 * enc:.1f} | {1e3 * pack:.3f} | {pack / enc:.2%} | {1e3 * dec:.1f} "
                  f"| {1e3 * unpack:.3f} | {unpack / dec:.2%} |")
        z = spk.z[0][:, :spk.header.frames_per_clip]
        words = ctx.ctx_encode(z)
        p = parts[model.name] = dict(
            core_encode=best_time(lambda: ctx.ctx_encode(z), 200),
            core_decode=best_time(lambda: ctx.ctx_decode(words, *z.shape), 200))
        saved, ctx._core = ctx._core, None   # the reference path
        try:
            bits, k = ctx._model(z)
            rows = ctx._rows(k)
            model_cat = constriction.stream.model.Categorical(perfect=False)

            def code():
                e = constriction.stream.queue.RangeEncoder()
                e.encode(bits, model_cat, rows)
                return e.get_compressed()
            assert np.array_equal(code(), words)
            p.update(bits=bits.size, model=best_time(lambda: ctx._model(z), 200), coder_encode=best_time(code, 200),
                     coder_decode=best_time(
                         lambda: constriction.stream.queue.RangeDecoder(words).decode(model_cat, rows), 200),
                     lockstep_decode=best_time(lambda: ctx.ctx_decode(words, *z.shape), 200))
        finally:
            ctx._core = saved
    print("\n| model | coded bits | C core: encode ms | C core: decode ms | reference: context model ms | "
          "coder encode ms | coder decode (one call) ms | lockstep ctx_decode ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, p in parts.items():
        print(f"| {name} | {p['bits']} | {1e3 * p['core_encode']:.3f} | {1e3 * p['core_decode']:.3f} | "
              f"{1e3 * p['model']:.3f} | {1e3 * p['coder_encode']:.3f} | {1e3 * p['coder_decode']:.3f} | "
              f"{1e3 * p['lockstep_decode']:.3f} |")
    if a.hour:
        hour()


def hour():
    """write_spk / read_spk of a 1-hour z, v1 against v2 (what the container adds to a 1-hour file)."""
    h = bench_header(3600 * SAMPLE_RATE)
    frames = h.num_frames
    rng = np.random.default_rng(0)
    print(f"\n1 hour: {UNITS} units x {frames} frames, one channel, best of 3")
    print("| z | .spk | kbps | pack s | unpack s |")
    print("|---|---|---|---|---|")
    for name, z in (("i.i.d. 10 %", rng.random((UNITS, frames)) < 0.1),
                    ("runs, 11 %", runs_z(rng, UNITS, frames, 0.11))):
        for v in (1, 2):
            data = write_spk(h, [z], version=v)
            assert np.array_equal(read_spk(data).z[0], z)
            pack = best_time(lambda: write_spk(h, [z], version=v), 3)
            unpack = best_time(lambda: read_spk(data), 3)
            print(f"| {name} | v{v} | {8 * len(data) / 3600 / 1000:.2f} | {pack:.3f} | {unpack:.3f} |")

if __name__ == "__main__":
    main()

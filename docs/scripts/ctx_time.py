"""Where the .spk v2 container's time goes on one dev clip, in process (issue 9's 2 % budget).

    .venv/bin/python docs/scripts/ctx_time.py [--models default mu] [--threads 2] [--shared ../shared]

For each model: a whole spikecodec.encode / decode of the first piano dev clip (best of 7), write_spk /
read_spk of its z as v1 and as v2 (best of 50), and the ctx layout's parts: the context model
(ctx._model: every coded bit and its probability), the range coder alone (constriction encode and
decode of those bits, all at once) and the lockstep ctx decode (ctx_decode). Run it on an idle machine.
"""
import argparse
import glob
import os

import constriction
import soundfile as sf
import torch

import spikecodec
from spikecodec.bitstream import ctx, read_spk, write_spk
from spikecodec.bitstream.bench import best_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["default", "mu"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = sorted(glob.glob(os.path.join(a.shared, "eval", "dev", "piano", "*.flac")))[0]
    x, sr = sf.read(path, dtype="float32")
    print(f"{os.path.basename(path)}: {len(x) / sr:.2f} s, torch threads {a.threads}")
    print("| model | .spk | encode ms | pack ms | pack share | decode ms | unpack ms | unpack share |")
    print("|---|---|---|---|---|---|---|---|")
    parts = {}
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
        bits, k = ctx._model(z)
        rows = ctx._rows(k)
        model_cat = constriction.stream.model.Categorical(perfect=False)

        def code():
            e = constriction.stream.queue.RangeEncoder()
            e.encode(bits, model_cat, rows)
            return e.get_compressed()
        words = code()
        parts[model.name] = dict(
            bits=bits.size, model=best_time(lambda: ctx._model(z), 200), coder_encode=best_time(code, 200),
            coder_decode=best_time(lambda: constriction.stream.queue.RangeDecoder(words).decode(model_cat, rows), 200),
            lockstep_decode=best_time(lambda: ctx.ctx_decode(words, *z.shape), 200))
    print("\n| model | coded bits | context model ms | coder encode ms | coder decode (one call) ms | ctx_decode (lockstep) ms |")
    print("|---|---|---|---|---|---|")
    for name, p in parts.items():
        print(f"| {name} | {p['bits']} | {1e3 * p['model']:.3f} | {1e3 * p['coder_encode']:.3f} | "
              f"{1e3 * p['coder_decode']:.3f} | {1e3 * p['lockstep_decode']:.3f} |")


if __name__ == "__main__":
    main()

""".spk v1 vs v2 on the dev set: file rates, the context model's ideal code length, container time.

    .venv/bin/python docs/scripts/spk_v2_rates.py [--shared ../shared] [--json out.json]

For each model (default = mu level 13, sparse) and set (piano, music): every clip is encoded once
through ``spikecodec.encode`` as v1 and as v2 (the same z: the model runs per call, deterministically),
both files are decoded through ``spikecodec.decode`` and the audio compared bit for bit. Prints a markdown
table: mean file kbps (whole .spk file / clip duration), the v2 payload's real bits vs the ctx model's ideal
code length (sum of -log2 p over the coded bits of the ctx clips), and the container's share of an
in-process encode and decode (best of 5 on one clip).
"""
import argparse
import json

import numpy as np
import soundfile as sf

import spikecodec
from spikecodec.bitstream import inspect_spk, read_spk, write_spk
from spikecodec.bitstream.bench import best_time
from spikecodec.shareddata import dev_clips, shared_dir


best = best_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=shared_dir())
    ap.add_argument("--json")
    args = ap.parse_args()
    rows, share = [], {}
    for name in ("default", "sparse"):
        model = spikecodec.load_model(name, device="cpu")
        for group in ("piano", "music"):
            files = dev_clips(group, shared=args.shared)
            kb1, kb2, real, ideal, same, layouts = [], [], 0, 0.0, True, {}
            for f in files:
                x, sr = sf.read(f, dtype="float32")
                d1 = spikecodec.encode(x, sr, model=model, spk_version=1)
                d2 = spikecodec.encode(x, sr, model=model)
                s1, s2 = read_spk(d1), read_spk(d2)
                same &= all(np.array_equal(a, b) for a, b in zip(s1.z, s2.z))
                y1, _ = spikecodec.decode(d1, model=model)
                y2, _ = spikecodec.decode(d2, model=model)
                same &= y1.tobytes() == y2.tobytes()
                dur = len(x) / sr
                kb1.append(8 * len(d1) / dur / 1000)
                kb2.append(8 * len(d2) / dur / 1000)
                info = inspect_spk(d2, ideal=True)
                for c in info.clips:
                    layouts[c.layout] = layouts.get(c.layout, 0) + 1
                    if c.layout == "ctx":
                        real += c.payload_bits
                        ideal += c.ideal_bits
            rows.append(dict(model=name, set=group, clips=len(files), v1_kbps=float(np.mean(kb1)),
                             v2_kbps=float(np.mean(kb2)), v2_min=float(np.min(kb2)), v2_max=float(np.max(kb2)),
                             real_over_ideal=real / ideal if ideal else None, audio_identical=bool(same),
                             layouts=layouts))
        # container share on one clip, in process
        x, sr = sf.read(dev_clips("piano", 1, args.shared)[0],
                        dtype="float32")
        out = {}
        for v in (1, 2):
            data = spikecodec.encode(x, sr, model=model, spk_version=v)
            spk = read_spk(data)
            t_enc = best(lambda: spikecodec.encode(x, sr, model=model, spk_version=v))
            t_dec = best(lambda: spikecodec.decode(data, model=model))
            t_pack = best(lambda: write_spk(spk.header, spk.z, spk.levels, version=v), 20)
            t_unpack = best(lambda: read_spk(data), 20)
            out[v] = dict(encode_ms=1e3 * t_enc, decode_ms=1e3 * t_dec, pack_ms=1e3 * t_pack,
                          unpack_ms=1e3 * t_unpack, pack_share=t_pack / t_enc, unpack_share=t_unpack / t_dec)
        share[name] = out
    print("| model | set | clips | v1 file kbps | v2 file kbps (min-max) | v2 / v1 | ctx real / ideal | decoded audio v1 = v2 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['set']} | {r['clips']} | {r['v1_kbps']:.2f} | {r['v2_kbps']:.3f} "
              f"({r['v2_min']:.2f}-{r['v2_max']:.2f}) | {r['v2_kbps'] / r['v1_kbps']:.2f} | "
              f"{r['real_over_ideal']:.4f} | {'bit-identical' if r['audio_identical'] else 'DIFFERENT'} |")
    print()
    print("| model | .spk | encode | pack | pack share | decode | unpack | unpack share |")
    print("|---|---|---|---|---|---|---|---|")
    for name, out in share.items():
        for v, s in out.items():
            print(f"| {name} | v{v} | {s['encode_ms']:.1f} ms | {s['pack_ms']:.3f} ms | {100 * s['pack_share']:.2f} % | "
                  f"{s['decode_ms']:.1f} ms | {s['unpack_ms']:.3f} ms | {100 * s['unpack_share']:.2f} % |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rates": rows, "container_share": share}, fh, indent=1)


if __name__ == "__main__":
    main()

"""Regenerate the .spk conformance vectors, v1 and v2 (deterministic).

    python formats/vectors/make_vectors.py [outdir]      # default: this folder

Each NAME.spk comes with NAME.json: the header values, z (per channel, per unit,
a string of '0'/'1' over frames), levels, the per-clip layouts, and the expected
damage list, or the error a reader must raise.  See formats/spk-v1.md and
formats/spk-v2.md (the v2_* vectors).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root

from spikecodec.bitstream import Header, inspect_spk, read_spk, write_spk  # noqa: E402
from spikecodec.bitstream import container as _ctr  # noqa: E402
from spikecodec.bitstream.bench import runs_z  # noqa: E402


def _header(**kw) -> Header:
    base = dict(model_name="sparse", model_id="5f3a9c0d17e2b684", source_sample_rate=44100,
                model_sample_rate=22050, channels=1, hop=512, has_levels=False, clips_per_group=1)
    base.update(kw)
    if "num_samples" not in base:
        base["num_samples"] = base["num_frames"] * base["hop"] * 2
    return Header(**base)


def _paper_matrix() -> np.ndarray:
    z = np.zeros((5, 10), bool)
    for u, t in [(0, 3), (1, 0), (1, 4), (2, 9), (3, 1), (3, 3), (4, 6)]:
        z[u, t] = True
    return z


_runs = runs_z   # events in runs of a few frames with a rate per unit, like a real encoder's z


def _z_strings(z):
    return [["".join("1" if v else "0" for v in row) for row in zc] for zc in z]


def _expected(data: bytes, description: str) -> dict:
    """The JSON a reader must reproduce, computed by the reference reader."""
    f = read_spk(data)
    info = inspect_spk(data)
    h = dataclasses.asdict(f.header)
    return {
        "description": description,
        "size_bytes": len(data),
        "header": h,
        "z": _z_strings(f.z),
        "levels": None if f.levels is None else [[int(v) for v in lv] for lv in f.levels],
        "damaged": [[c, k, s, e] for c, k, s, e in f.damaged],
        "clips": [c.to_dict() for c in info.clips],
        "bits_by_part": info.bits_by_part,
        "error": None,
    }


def _flip(data: bytes, byte: int, mask: int) -> bytes:
    b = bytearray(data)
    b[byte] ^= mask
    return bytes(b)


def _group_starts(data: bytes) -> list[int]:
    hlen = int.from_bytes(data[5:7], "big")
    out, pos = [], hlen
    while pos < len(data):
        out.append(pos)
        pos += _ctr.GROUP_HEADER_BYTES + int.from_bytes(data[pos + 6:pos + 10], "big")
    return out


def build() -> dict[str, tuple[bytes, dict]]:
    """name -> (file bytes, expected JSON object)."""
    vec: dict[str, tuple[bytes, dict]] = {}

    def add(name, header, z, levels, description, version=1):
        data = write_spk(header, z, levels, version=version)
        vec[name] = (data, _expected(data, description))
        return data

    rng = np.random.default_rng(20240521)

    add("empty", _header(units=4, num_frames=8, frames_per_clip=8),
        [np.zeros((4, 8), bool)], None,
        "one 4x8 clip without events: coo layout (0 payload bits; ties go to the lowest tag)")
    add("full", _header(units=4, num_frames=8, frames_per_clip=8),
        [np.ones((4, 8), bool)], None,
        "one 4x8 clip with every cell set: dense layout (32 payload bits)")
    add("paper", _header(units=5, num_frames=10, frames_per_clip=10, model_name="paper"),
        [_paper_matrix()], None,
        "the 5x10, S=7 example of Lisboa & Bellec (2024): time layout, 40 payload bits")
    z = np.zeros((4, 64), bool)
    z[1, 5] = z[3, 60] = True
    add("coo", _header(units=4, num_frames=64, frames_per_clip=64), [z], None,
        "4x64 clip with 2 events: coo layout (2 x (2 + 6) = 16 bits)")
    z = np.zeros((16, 2), bool)
    z[3, 0] = z[9, 0] = z[15, 1] = True
    add("units", _header(units=16, num_frames=2, frames_per_clip=2), [z], None,
        "16x2 clip with 3 events: units layout (3 x 4 + 1 x 2 = 14 bits)")
    zs = [rng.random((8, 40)) < p for p in (0.08, 0.5)]
    lv = [np.array([0, 17, 31]), np.array([5, 5, 30])]
    add("stereo_levels", _header(channels=2, units=8, num_frames=40, frames_per_clip=16, has_levels=True,
                                 model_name="mu", source_sample_rate=48000),
        zs, lv, "2 channels, 8 units, 40 frames in clips of 16 (last clip 8 frames), 5-bit levels")
    zm = [rng.random((6, 47)) < 0.12]
    multi = add("multiclip_short", _header(units=6, num_frames=47, frames_per_clip=10, clips_per_group=2),
                zm, None, "1 channel, 6 units, 47 frames in 5 clips of 10 (last 7), 2 clips per group"
                          " (3 groups: clips 0-1, 2-3, 4)")

    starts = _group_starts(multi)
    dmg = _flip(multi, starts[1] + _ctr.GROUP_HEADER_BYTES + 1, 0x08)
    vec["damaged"] = (dmg, _expected(dmg, "multiclip_short with one payload bit of group 1 flipped:"
                                          " clips 2 and 3 are lost (zeros), clips 0, 1, 4 decode"))

    zt = [rng.random((12, 60)) < 0.5]
    full_t = write_spk(_header(units=12, num_frames=60, frames_per_clip=12), zt, None, version=1)
    cut = full_t[: _group_starts(full_t)[-1] + 9]
    vec["truncated"] = (cut, _expected(cut, "12 units, 60 frames in 5 clips of 12, cut inside the last"
                                            " group header: clip 4 is reported lost"))

    v3 = bytearray(vec["paper"][0])
    v3[4] = 3
    hlen = int.from_bytes(v3[5:7], "big")
    v3[hlen - 4:hlen] = _ctr._crc32(bytes(v3[: hlen - 4])).to_bytes(4, "big")
    v3 = bytes(v3)
    vec["version3"] = (v3, {
        "description": "paper.spk relabelled as format version 3 (header CRC recomputed): a v1/v2 reader"
                       " must refuse it with an error naming the version",
        "size_bytes": len(v3),
        "error": {"type": "SpkFormatError", "message_contains": "version 3"},
    })

    # ---- .spk v2 (formats/spk-v2.md): 3-bit tags, the entropy-coded ctx layout
    add("v2_paper", _header(units=5, num_frames=10, frames_per_clip=10, model_name="paper"),
        [_paper_matrix()], None,
        "the paper's 5x10 example written as v2: still the time layout (a ctx code would need at least"
        " 32 + 2 bits), tag 010 in 3 bits", version=2)
    zc = _runs(rng, 16, 128, 0.12)
    add("v2_ctx", _header(units=16, num_frames=128, frames_per_clip=128), [zc], None,
        "one 16x128 clip with events in runs: ctx layout (2 segments of 64 frames)", version=2)
    zs = [_runs(rng, 12, 250, 0.1), np.zeros((12, 250), bool)]
    zs[1][:, 100:200] = rng.random((12, 100)) < 0.6
    zs[1][:, 200:] = _runs(rng, 12, 50, 0.2)
    lv = [np.array([13, 14, 31]), np.array([0, 13, 7])]
    mixed = add("v2_mixed", _header(channels=2, units=12, num_frames=250, frames_per_clip=100, clips_per_group=2,
                                    has_levels=True, model_name="mu"),
                zs, lv, "2 channels, 12 units, 250 frames in clips of 100 (last 50; 2 segments + 1), levels,"
                        " 2 clips per group: ctx, coo (empty), dense and ctx clips side by side", version=2)
    starts = _group_starts(mixed)
    dmg2 = _flip(mixed, starts[0] + _ctr.GROUP_HEADER_BYTES + 20, 0x10)
    vec["v2_damaged"] = (dmg2, _expected(dmg2, "v2_mixed with one payload bit of group 0 flipped (inside a ctx"
                                               " code): clips 0 and 1 of both channels are lost, clip 2 decodes"))
    bad = _flip(vec["paper"][0], 30, 0x01)
    vec["bad_header"] = (bad, {
        "description": "paper.spk with one bit of num_samples flipped: header CRC-32 mismatch",
        "size_bytes": len(bad),
        "error": {"type": "SpkFormatError", "message_contains": "header"},
    })
    return vec


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else HERE
    out.mkdir(parents=True, exist_ok=True)
    for name, (data, expect) in build().items():
        (out / f"{name}.spk").write_bytes(data)
        (out / f"{name}.json").write_text(json.dumps(expect, indent=1) + "\n")
        print(f"{name}.spk  {len(data):4d} bytes  {expect['description']}")


if __name__ == "__main__":
    main()

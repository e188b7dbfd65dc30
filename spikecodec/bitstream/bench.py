"""Throughput of the .spk bitstream: pack (write_spk) and unpack (read_spk).

    python -m spikecodec.bitstream.bench [seconds]

z is an i.i.d. Bernoulli matrix of a song's worth of frames (N = 80 units,
hop 512 at 22050 Hz), one channel, for each density, written as .spk v1 (the
paper's four layouts) and v2 (+ the entropy-coded ctx layout).  i.i.d. events
have no temporal structure, so ctx gains only what a per-unit rate buys here;
on real z it gains far more (docs/benchmarks.md).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .container import Header, read_spk, write_spk

UNITS = 80
HOP = 512
SAMPLE_RATE = 22050


def runs_z(rng: np.random.Generator, units: int, frames: int, density: float = 0.1,
           stay: float = 0.85) -> np.ndarray:
    """Synthetic z (units, frames) bool with events in runs of a few frames and a rate per unit, like a
    real encoder's (what the ctx layout is for): the test vectors and the tests draw from it."""
    rate = rng.random(units) * 2 * density
    z = np.zeros((units, frames), bool)
    on = rng.random(units) < rate
    for t in range(frames):
        on = np.where(on, rng.random(units) < stay, rng.random(units) < rate * (1 - stay))
        z[:, t] = on
    return z


def best_time(fn, repeat: int = 5) -> float:
    """The shortest of ``repeat`` (at least one) wall-clock timings of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_header(num_samples: int) -> Header:
    """The header of a one-channel bench file of ``num_samples`` samples (N = UNITS, hop HOP)."""
    return Header(model_name="bench", model_id="00", source_sample_rate=SAMPLE_RATE, model_sample_rate=SAMPLE_RATE,
                  channels=1, num_samples=num_samples, num_frames=-(-num_samples // HOP), units=UNITS,
                  frames_per_clip=256, hop=HOP)


def bench(seconds: float = 600, densities=(0.05, 0.10, 0.50), repeat: int = 3, seed: int = 0,
          versions=(1, 2)) -> list[dict]:
    """One row per density and .spk version: sizes, pack/unpack seconds, MB/s of z bits, x real time."""
    num_samples = int(round(seconds * SAMPLE_RATE))
    frames = -(-num_samples // HOP)
    rng = np.random.default_rng(seed)
    rows = []
    for d in densities:
        z = rng.random((UNITS, frames)) < d
        h = bench_header(num_samples)
        for v in versions:
            rows.append(_row(h, z, d, v, seconds, frames, repeat))
    return rows


def _row(h, z, d, v, seconds, frames, repeat) -> dict:
    data = write_spk(h, [z], version=v)
    back = read_spk(data)
    assert np.array_equal(back.z[0], z) and not back.damaged
    t_pack = best_time(lambda: write_spk(h, [z], version=v), repeat)
    t_unpack = best_time(lambda: read_spk(data), repeat)
    mb = UNITS * frames / 8 / 1e6  # megabytes of z bits
    layouts = {k: n for k, n in back.info.clips_by_layout.items() if n}
    return dict(
        version=v, density=d, seconds=seconds, frames=frames, units=UNITS,
        z_megabytes=mb, file_bytes=len(data), kbps=8 * len(data) / seconds / 1000,
        layouts=layouts,
        pack_s=t_pack, unpack_s=t_unpack,
        pack_mb_s=mb / t_pack, unpack_mb_s=mb / t_unpack,
        pack_x_realtime=seconds / t_pack, unpack_x_realtime=seconds / t_unpack,
    )


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    seconds = float(argv[0]) if argv else 600.0
    rows = bench(seconds)
    print(f"z: N={UNITS}, hop={HOP} @ {SAMPLE_RATE} Hz, {seconds:g} s -> {rows[0]['frames']} frames, "
          f"{rows[0]['z_megabytes']:.3f} MB of z bits")
    print(f"{'spk':>3} {'density':>7} {'kbps':>7} {'layouts':<22} {'pack s':>8} {'MB/s':>7} {'x RT':>8} "
          f"{'unpack s':>8} {'MB/s':>7} {'x RT':>8}")
    for r in rows:
        lay = ",".join(f"{k}:{v}" for k, v in r["layouts"].items())
        print(f"{'v' + str(r['version']):>3} {r['density']:>7.2f} {r['kbps']:>7.2f} {lay:<22} {r['pack_s']:>8.4f} "
              f"{r['pack_mb_s']:>7.1f} "
              f"{r['pack_x_realtime']:>8.0f} {r['unpack_s']:>8.4f} {r['unpack_mb_s']:>7.1f} "
              f"{r['unpack_x_realtime']:>8.0f}")


if __name__ == "__main__":
    main()

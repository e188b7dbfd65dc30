"""The long-file run: dev clips tiled into one long input, coded end to end by the CLI, and the
quality around the codec's clip and group boundaries compared with the rest of the file.

The tiling starts `SEAM_OFFSET` samples into the first clip, so the joins between tiled clips
(content changes) do not fall on the codec's clip boundaries (every 256 frames x 512 samples =
2**17 samples, exactly one dev clip); the joins are reported as a category of their own.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .common import CLIP_SAMPLES, SR, cli_exe, thread_env, timed_run

SEAM_OFFSET = 50000     # samples cut from the first tile
WINDOW_S = 0.5
CATEGORIES = ("clip boundary", "group boundary", "tile seam", "elsewhere")


def tiled_clips(clips: list[str], n_samples: int):
    """Yield float32 blocks of the tiled input (piano and music clips in turn), n_samples in all."""
    import soundfile as sf
    audio = [sf.read(c, dtype="float32")[0] for c in clips]
    done, k = 0, 0
    while done < n_samples:
        a = audio[k % len(audio)]
        if k == 0:
            a = a[SEAM_OFFSET:]
        a = a[:n_samples - done]
        done += len(a)
        k += 1
        yield a


def interleave(piano: list[str], music: list[str]) -> list[str]:
    out = []
    for i in range(max(len(piano), len(music))):
        out += piano[i:i + 1] + music[i:i + 1]
    return out


def boundary_windows(n: int, period: int = CLIP_SAMPLES, group: int = 4, seam_first: int | None = None,
                     win: int = int(WINDOW_S * SR)) -> dict[str, list[tuple[int, int]]]:
    """Analysis windows [a, b) of `win` samples over a signal of n samples, per category:

    * "clip boundary": centred on each codec clip boundary (k * period) that is not a group boundary;
    * "group boundary": centred on each group boundary (k * period, k a multiple of `group`);
    * "tile seam": centred on each content join (seam_first + j * period), if seam_first is given;
    * "elsewhere": the windows of a regular grid (i * win) that keep at least win/2 from every
      boundary and seam.
    Windows that would leave the signal are dropped.
    """
    half = win // 2
    out: dict[str, list[tuple[int, int]]] = {c: [] for c in CATEGORIES}
    marks = []
    for k in range(1, (n - 1) // period + 1):
        b = k * period
        marks.append(b)
        if b - half >= 0 and b - half + win <= n:
            out["group boundary" if k % group == 0 else "clip boundary"].append((b - half, b - half + win))
    if seam_first is not None:
        for s in range(seam_first, n, period):
            if s <= 0:
                continue
            marks.append(s)
            if s - half >= 0 and s - half + win <= n:
                out["tile seam"].append((s - half, s - half + win))
    marks = np.sort(np.asarray(marks, dtype=np.int64))
    for a in range(0, n - win + 1, win):
        b = a + win
        i = np.searchsorted(marks, a - half)          # first mark >= a - half
        if i < len(marks) and marks[i] < b + half:    # a mark within [a - half, b + half)
            continue
        out["elsewhere"].append((a, b))
    return out


def window_lmd(ref: np.ndarray, dec: np.ndarray, windows: dict, max_per_category: int | None = None) -> dict:
    """LMD (spikecodec.metrics.log_mel_distance) per window; stats per category."""
    from ..metrics import log_mel_distance
    out = {}
    for cat, ws in windows.items():
        if max_per_category and len(ws) > max_per_category:   # evenly spaced subset
            ws = [ws[i] for i in np.linspace(0, len(ws) - 1, max_per_category).round().astype(int)]
        v = np.array([log_mel_distance(dec[a:b], ref[a:b], SR) for a, b in ws])
        out[cat] = {"n": int(len(v)), "mean": float(v.mean()) if len(v) else None,
                    "std": float(v.std(ddof=1)) if len(v) > 1 else None,
                    "sem": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None}
    return out


def verdict(stats: dict, cat: str, ref: str = "elsewhere") -> dict:
    """Is category `cat` no worse than `ref`? Difference of means and its ~95 % interval."""
    a, b = stats.get(cat), stats.get(ref)
    if not a or not b or a["n"] < 2 or b["n"] < 2:
        return {"diff": None, "ci95": None, "no_worse": None}
    d = a["mean"] - b["mean"]
    ci = 1.96 * float(np.hypot(a["sem"], b["sem"]))
    return {"diff": d, "ci95": ci, "no_worse": bool(d <= ci)}


def run(clips: list[str], seconds: float, model_args: list[str], work: str, threads: int,
        max_windows: int | None = None) -> dict:
    """Write the tiled input as FLAC, then `spikecodec encode` and `decode` it as subprocesses."""
    import soundfile as sf

    from .speed import container_times
    os.makedirs(work, exist_ok=True)
    n = int(round(seconds * SR))
    src, spk, dec = (os.path.join(work, f) for f in ("long.flac", "long.spk", "long.wav"))
    with sf.SoundFile(src, "w", SR, 1, subtype="PCM_16", format="FLAC") as f:
        for block in tiled_clips(clips, n):
            f.write(block)
    env = thread_env(threads)
    enc = timed_run(cli_exe() + ["encode", "-q", "-f", src, "-o", spk] + model_args, env)
    dect = timed_run(cli_exe() + ["decode", "-q", "-f", spk, "-o", dec], env)
    data = open(spk, "rb").read()
    ct = container_times(data, repeat=1)
    total = enc.wall_s + dect.wall_s
    result = {
        "seconds": n / SR, "input_bytes": os.path.getsize(src), "spk_bytes": len(data),
        "kbps": 8 * len(data) / (n / SR) / 1000,
        "encode_s": enc.wall_s, "decode_s": dect.wall_s, "encode_xrt": n / SR / enc.wall_s,
        "decode_xrt": n / SR / dect.wall_s, "encode_peak_rss_mb": enc.peak_rss_mb,
        "decode_peak_rss_mb": dect.peak_rss_mb, **ct,
        "container_share": (ct["pack_s"] + ct["unpack_s"]) / total,
        "pack_share": ct["pack_s"] / enc.wall_s, "unpack_share": ct["unpack_s"] / dect.wall_s,
    }
    t0 = time.perf_counter()
    ref = sf.read(src, dtype="float32")[0]
    out = sf.read(dec, dtype="float32")[0]
    if out.ndim > 1:
        out = out.mean(axis=1)
    result["decoded_samples"] = int(len(out))
    seam_first = CLIP_SAMPLES - SEAM_OFFSET
    stats = window_lmd(ref, out, boundary_windows(n, seam_first=seam_first), max_windows)
    result["windows"] = stats
    result["verdicts"] = {c: verdict(stats, c) for c in ("clip boundary", "group boundary", "tile seam")}
    result["window_analysis_s"] = time.perf_counter() - t0
    result["window_s"] = WINDOW_S
    result["seam_first_sample"] = seam_first
    for p in (src, spk, dec):
        os.remove(p)
    return result

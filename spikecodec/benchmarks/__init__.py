"""`make bench`: spikecodec and classical codecs on the dev set -> docs/benchmarks.{md,json}, docs/img/bench-*.png.

    python -m spikecodec.benchmarks [--quick] [--out docs] [--threads 2] [--no-visqol]

Measured (see docs/benchmarks.md for the definitions, which the report repeats):
  * every shipped model (free, sparse, mu; absent ones skipped with a note), the mu-model at a sweep of
    levels and in quality-floor mode, through spikecodec.training.evaluate (the real codec path);
  * Opus (opusenc/opusdec) at 6/8/12 kbps, MP3 (ffmpeg/libmp3lame) at 8/16 kbps;
  * quality by shared/eval/score.py (subprocess), per clip -> mean, std, min-max per set;
  * speed: whole-process (CLI subprocess on one clip) and model-only (60 s tensor) real-time factors,
    peak RSS; the container's share of the time;
  * event rasters; a rate-quality plot;
  * a long file (1 h, QUICK: 5 min) through the CLI, with LMD at clip/group boundaries vs elsewhere.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time

from . import classical, longfile, neural, plots, report, speed
from ..shareddata import dev_clips, shared_dir
from .common import (CLIP_SAMPLES, SETS, SR, install_hint, machine, metric_stats, missing_tools, repo_root, Scorer,
                     stats, subset_shared, tool_versions)

QUICK_CLIPS = 3
LONG_SECONDS, LONG_SECONDS_QUICK = 3600.0, 300.0
MODEL_SPEED_SECONDS = 60.0

__all__ = ["run", "main"]


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def _log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _neural_entry(s: dict, ev: dict, scored: dict) -> dict:
    entry = {"family": s["model"], "label": s["label"], "model": s["model"], "model_id": ev["model_id"],
             "level": s["level"], "quality_floor": s["quality_floor"], "default": s["default"], "sets": {}}
    for name, sc in scored.items():
        e = ev["sets"][name]
        clips = e["per_clip"]
        levels = [lv for c in clips for lv in c["levels"]]
        ms = metric_stats(sc)
        # the scorer ran twice on the same decoded files (evaluate.py without ViSQOL, then here): same means
        agree = all(abs(ms[k]["mean"] - (e["scores"] or {}).get(k, ms[k]["mean"])) < 1e-9 for k in ("lmd", "mrstft"))
        entry["sets"][name] = {
            "clips": len(clips), "kbps": stats([c["kbps"] for c in clips]), "payload_kbps": None,
            "metrics": ms, "density": e["density_mean"], "levels": stats(levels) if levels else None,
            "inprocess_encode_xrt": e["encode_xrt"], "inprocess_decode_xrt": e["decode_xrt"],
            "align_note": sc["config"].get("align_note"), "scores_agree_with_evaluate": agree,
            "per_clip": [{**c, **{k: f.get(k) for k in ("si_snr", "lmd", "mrstft", "visqol") if k in f}}
                         for c, f in zip(clips, sc["files"])],
        }
    return entry


def _classical_entry(s: dict, rows: dict, scored: dict) -> dict:
    entry = {"family": s["codec"], "label": s["label"], "kbps_nominal": s["kbps"], "level": None,
             "quality_floor": None, "sets": {}}
    for name, sc in scored.items():
        rs = rows[name]
        modes: dict[str, int] = {}
        for r in rs:
            for k, v in r.get("modes", {}).items():
                modes[k] = modes.get(k, 0) + v
        entry["sets"][name] = {
            "clips": len(rs), "kbps": stats([r["kbps"] for r in rs]),
            "payload_kbps": stats([r["payload_kbps"] for r in rs]), "metrics": metric_stats(sc),
            "modes": modes or None, "align_note": sc["config"].get("align_note"),
            "per_clip": [{**r, **{k: f.get(k) for k in ("si_snr", "lmd", "mrstft", "visqol") if k in f}}
                         for r, f in zip(rs, sc["files"])],
        }
    return entry


def _draw_rate_plots(codecs: list[dict], img_dir: str) -> dict:
    """The rate-against-quality figures (score.py's, then fidelity.py's measures) -> {kind: file name}."""
    files = {"rate_quality": "bench-rate-quality.png", "rate_notes": "bench-rate-notes.png"}
    plots.rate_quality(_plot_rows(codecs), os.path.join(img_dir, files["rate_quality"]))
    plots.rate_quality(_plot_rows(codecs), os.path.join(img_dir, files["rate_notes"]), metrics=plots.NOTE_METRICS)
    return files


def _plot_rows(codecs: list[dict]) -> list[dict]:
    rows = []
    for c in codecs:
        sets = {}
        for name, s in c["sets"].items():
            m = s["metrics"]
            sets[name] = {"kbps": s["kbps"]["mean"],
                          "payload_kbps": s["payload_kbps"]["mean"] if s.get("payload_kbps") else None,
                          "lmd": m["lmd"]["mean"] if m.get("lmd") else None,
                          "visqol": m["visqol"]["mean"] if m.get("visqol") else None,
                          "chroma": m["chroma"]["mean"] if m.get("chroma") else None,
                          "note_f1": m["note_f1"]["mean"] if m.get("note_f1") else None}
        rows.append({**{k: c.get(k) for k in ("family", "label", "level", "quality_floor", "kbps_nominal")},
                     "sets": sets})
    return rows


def run(out: str = "docs", quick: bool = False, threads: int = 2, visqol: bool | None = None,
        limit: int | None = None, long_seconds: float | None = None, long_file: bool = True,
        models: list[str] | None = None, work: str | None = None, command: str | None = None) -> dict:
    """Measure everything (see the module docstring). The dev set is checked first (one line and
    exit when missing); a temporary work folder is removed on every exit path (errors, Ctrl-C)."""
    from ..shareddata import require
    require("bench", [f"eval/dev/{name}" for name in SETS] + ["eval/score.py", "eval/fidelity.py"],
            shared=shared_dir())
    own_work = work is None
    work = work or tempfile.mkdtemp(prefix="spikecodec-bench-")
    try:
        return _run(out, quick, threads, visqol, limit, long_seconds, long_file, models, work, command)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def _run(out, quick, threads, visqol, limit, long_seconds, long_file, models, work, command) -> dict:
    import torch
    t_start = time.perf_counter()
    torch.set_num_threads(threads)
    visqol = (not quick) if visqol is None else visqol
    limit = limit if limit is not None else (QUICK_CLIPS if quick else None)
    long_seconds = long_seconds or (LONG_SECONDS_QUICK if quick else LONG_SECONDS)
    own_work = work is None
    work = work or tempfile.mkdtemp(prefix="spikecodec-bench-")
    os.makedirs(work, exist_ok=True)
    shared = shared_dir()
    sub = subset_shared(shared, work, limit)
    clips = {name: dev_clips(name, shared=sub) for name in SETS}
    notes: list[str] = []
    if not all(clips.values()):
        raise SystemExit(f"bench: dev set not found under {shared}/eval/dev (set SPIKECODEC_SHARED)")

    absent = missing_tools()
    missing = [t for t in absent if not t.startswith("/")]          # the codecs themselves
    if absent:
        hint = install_hint(absent)
        _log(f"missing {', '.join(absent)}; install with: {hint}")
    if missing:
        notes.append(f"classical codecs skipped: {', '.join(missing)} not installed (`{install_hint(missing)}`)")
    if "/usr/bin/time" in absent:
        notes.append("peak RSS is the os.wait4 rusage of the child, an upper bound that includes the benchmark "
                     "process's own memory (`apt-get install -y time` for exact figures)")

    # Measure a fixed set of files: a training job may replace checkpoints/*.pt while we run, and a
    # .spk file only decodes with the exact checkpoint that encoded it.
    os.environ["SPIKECODEC_CHECKPOINTS"] = neural.snapshot_checkpoints(os.path.join(work, "checkpoints"))
    present, model_notes = neural.available_models()
    model_info = neural.model_info(present)
    if models is not None:
        present = [m for m in present if m in models]
    notes += model_notes
    for n in model_notes:
        _log(n)

    # ------------------------------------------------------------------ rate and quality
    # Coding runs here; scoring runs in the background (2 worker processes running score.py's code).
    pending = []
    scorer = Scorer(sub, workers=2)
    try:
        for s in neural.settings(present, quick):
            t0 = time.perf_counter()
            d = os.path.join(work, "neural", _slug(s["label"]))
            ev = neural.evaluate_setting(s, sub, d)
            pending.append((_neural_entry, s, ev, scorer.submit({n: os.path.join(d, n) for n in SETS}, visqol)))
            _log(f"{s['label']}: coded in {time.perf_counter() - t0:.1f} s")
        if not missing:
            for s in classical.settings():
                t0 = time.perf_counter()
                d = os.path.join(work, "classical", _slug(s["label"]))
                rows = {n: classical.code_set(s["codec"], s["kbps"], clips[n], os.path.join(d, "enc", n),
                                              os.path.join(d, "dec", n)) for n in SETS}
                pending.append((_classical_entry, s, rows,
                                scorer.submit({n: os.path.join(d, "dec", n) for n in SETS}, visqol)))
                _log(f"{s['label']}: coded in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        codecs = [make(s, extra, {n: f.result() for n, f in futures.items()}) for make, s, extra, futures in pending]
        _log(f"scoring finished {time.perf_counter() - t0:.1f} s after the last setting was coded")
    finally:
        scorer.close()

    # ------------------------------------------------------------------ speed and memory
    speed_clip = clips["piano"][0]
    repeat = 1 if quick else 2
    speed_rows, cli_default = [], {}
    for s in neural.settings(present, quick):
        if not (s["default"] or s["quality_floor"] is not None):
            continue
        t0 = time.perf_counter()
        p = speed.cli_speed(s, speed_clip, os.path.join(work, "speed", _slug(s["label"])), threads, repeat)
        row = {"label": s["label"], "family": s["model"], "process": p}
        if s["default"]:
            row["model_only"] = speed.model_speed(s["model"], clips["piano"] + clips["music"], MODEL_SPEED_SECONDS,
                                                  threads, 3)
            cli_default[s["model"]] = p
        speed_rows.append(row)
        _log(f"speed {s['label']}: {time.perf_counter() - t0:.1f} s")
    if not missing:
        for s in classical.settings():
            p = speed.classical_speed(s["codec"], s["kbps"], speed_clip, os.path.join(work, "speed", _slug(s["label"])),
                                      threads, repeat)
            speed_rows.append({"label": s["label"], "family": s["codec"], "process": p})
    from ..checkpoint import default_model_name
    default = default_model_name()
    main_model = default if default in present else (present[0] if present else None)
    container_clip = None
    if main_model:
        container_clip = speed.clip_container_share(main_model, speed_clip, cli_default.get(main_model))
    from ..bitstream.bench import bench as container_bench
    container_throughput = container_bench(600)     # a 10-minute song's z at 5, 10 and 50 % density

    # ------------------------------------------------------------------ plots
    img_dir = os.path.join(out, "img")
    os.makedirs(img_dir, exist_ok=True)
    for f in os.listdir(img_dir):                      # a re-run leaves no stale figures behind
        if f.startswith("bench-") and f.endswith(".png"):
            os.remove(os.path.join(img_dir, f))
    plot_files = {**_draw_rate_plots(codecs, img_dir), "rasters": {}}
    raster_info = {}
    for name in present:
        panels = neural.raster_data(name, speed_clip, neural.raster_levels(name))
        f = f"bench-raster-{name}.png"
        plots.raster(panels, os.path.join(img_dir, f))
        plot_files["rasters"][name] = f
        raster_info[name] = [{k: v for k, v in p.items() if k != "z"} for p in panels]

    # ------------------------------------------------------------------ long file
    long = None
    if long_file and main_model:
        t0 = time.perf_counter()
        if main_model != default:
            notes.append(f"long file run with model `{main_model}` (the default model `{default}` is absent)")
        order = longfile.interleave(dev_clips("piano", shared=shared), dev_clips("music", shared=shared))
        long = longfile.run(order, long_seconds, ["-m", main_model], os.path.join(work, "long"), threads)
        long["model"] = main_model
        _log(f"long file ({long_seconds:.0f} s): {time.perf_counter() - t0:.1f} s")
    if not present:
        notes.append("no spikecodec model found in checkpoints/: only the classical codecs were measured")

    # ------------------------------------------------------------------ write
    exe = os.path.relpath(sys.executable, repo_root()) if sys.executable.startswith(repo_root()) else sys.executable
    result = {
        "meta": {"date": None, "quick": quick, "threads": threads, "visqol": visqol,
                 "clips_per_set": ", ".join(f"{len(v)} {k}" for k, v in clips.items()),
                 "dev_set": os.path.relpath(os.path.join(shared, "eval", "dev"), repo_root()),
                 "sets": list(SETS), "command": command or f"{exe} -m spikecodec.benchmarks" + (" --quick" if quick else ""),
                 "machine": machine(), "tools": tool_versions(), "speed_clip": os.path.basename(speed_clip)[:-5],
                 "speed_clip_s": CLIP_SAMPLES / SR, "speed_repeat": repeat, "model_speed_s": MODEL_SPEED_SECONDS,
                 "models": model_info, "img_prefix": "img/"},
        "notes": notes, "codecs": codecs, "speed": speed_rows, "container_clip": container_clip,
        "container_throughput": container_throughput,
        "rasters": raster_info, "long_file": long, "plots": plot_files,
    }
    result["meta"]["date"] = result["meta"]["machine"]["date"]
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "benchmarks.json"), "w") as f:
        json.dump(result, f, indent=1, default=_json_default)
    with open(os.path.join(out, "benchmarks.md"), "w") as f:
        f.write(_report_text(out, result))
    if own_work:
        shutil.rmtree(work, ignore_errors=True)
    _log(f"wrote {out}/benchmarks.md, {out}/benchmarks.json, {img_dir}/bench-*.png "
         f"in {result['meta']['wall_s']:.0f} s")
    return result


# Measured by hand (docs/scripts/decoder_ablation.py), kept in its own file so that a bench run
# carries it into benchmarks.md instead of erasing it.
HAND_SECTIONS = ("decoder-ablation.md",)


def _report_text(out: str, result: dict) -> str:
    text = report.render(result)
    for name in HAND_SECTIONS:
        path = os.path.join(out, name)
        if os.path.exists(path):
            with open(path) as f:
                text = text.rstrip("\n") + "\n\n" + f.read()
    return text


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def main(argv=None) -> None:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m spikecodec.benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 clips per set, no ViSQOL, fewer levels, 5-min long file")
    ap.add_argument("--out", default="docs", help="output folder (default docs)")
    ap.add_argument("--threads", type=int, default=2, help="torch / codec threads (default 2)")
    ap.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the default in --quick)")
    ap.add_argument("--limit", type=int, help="first N clips per set")
    ap.add_argument("--long-seconds", type=float, help="length of the long-file input (default 3600, quick 300)")
    ap.add_argument("--no-long-file", action="store_true", help="skip the long-file run")
    ap.add_argument("--models", nargs="+", help="only these of free/sparse/mu")
    ap.add_argument("--work", help="keep intermediate files here (default: a temp dir, removed)")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: rewrite OUT/benchmarks.md and the rate plots from OUT/benchmarks.json "
                         "(after a template or plot change)")
    a = ap.parse_args(argv)
    if a.render:
        with open(os.path.join(a.out, "benchmarks.json")) as f:
            result = json.load(f)
        _draw_rate_plots(result["codecs"], os.path.join(a.out, "img"))
        with open(os.path.join(a.out, "benchmarks.md"), "w") as f:
            f.write(_report_text(a.out, result))
        _log(f"rewrote {a.out}/benchmarks.md from {a.out}/benchmarks.json")
        return
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    exe = os.path.relpath(sys.executable, repo_root()) if sys.executable.startswith(repo_root()) else sys.executable
    run(out=a.out, quick=a.quick, threads=a.threads, visqol=False if a.no_visqol else None, limit=a.limit,
        long_seconds=a.long_seconds, long_file=not a.no_long_file, models=a.models, work=a.work,
        command=f"{exe} -m spikecodec.benchmarks {argv_s}".strip())

"""Shared plumbing of the benchmarks: the dev set, the scorer subprocess, timed subprocesses, stats."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..shareddata import dev_clips, link_references

SETS = ("piano", "music")
SR = 22050
CLIP_SAMPLES = 2 ** 17
METRICS = ("si_snr", "lmd", "mrstft", "visqol")
TOOLS = {"opusenc": "opus-tools", "opusdec": "opus-tools", "ffmpeg": "ffmpeg", "/usr/bin/time": "time"}


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def subset_shared(shared: str, work: str, limit: int | None) -> str:
    """A `shared/` look-alike holding only the first `limit` clips of each set (symlinks) and the
    real score.py, so that evaluate.py and score.py see exactly the clips we measure (score.py
    fails on a reference without a decoded file). With limit None, the real shared dir."""
    if limit is None:
        return shared
    root = os.path.join(work, "shared-subset")
    os.makedirs(os.path.join(root, "eval"), exist_ok=True)
    for script in ("score.py", "fidelity.py"):
        link = os.path.join(root, "eval", script)
        if not os.path.lexists(link):
            os.symlink(os.path.join(shared, "eval", script), link)
    for name in SETS:
        link_references(dev_clips(name, limit, shared), os.path.join(root, "eval", "dev", name))
    return root


def missing_tools() -> list[str]:
    return [t for t in TOOLS if (not os.path.exists(t) if t.startswith("/") else shutil.which(t) is None)]


def install_hint(missing: list[str]) -> str:
    pkgs = sorted({TOOLS[t] for t in missing})
    return "apt-get update && apt-get install -y " + " ".join(pkgs)


# ----------------------------------------------------------------------------- scorer
_SCORE = None
_FIDELITY = None
FIDELITY_METRICS = ("level_db", "onset_r", "chroma", "fine_lsd", "note_f1")


def _load_script(name: str, path: str):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scorer_init(score_py: str) -> None:
    """Worker initialiser: load shared/eval/score.py and fidelity.py themselves as modules (once per worker)."""
    global _SCORE, _FIDELITY
    _SCORE = _load_script("spikecodec_dev_score", score_py)
    _FIDELITY = _load_script("spikecodec_dev_fidelity", os.path.join(os.path.dirname(score_py), "fidelity.py"))


def _scorer_run(ref_dir: str, dec_dir: str, visqol: bool) -> dict:
    """What `score.py REF DEC --json [--no-visqol]` prints, as a dict (same function, same arguments),
    with what `fidelity.py REF DEC --json` prints under "fidelity"."""
    use_vq = visqol and _SCORE.have_visqol()
    res = _SCORE.score_dirs(ref_dir, dec_dir, use_visqol=use_vq)
    if res["missing"]:
        raise RuntimeError(f"score.py: decoded files missing in {dec_dir}: {', '.join(res['missing'])}")
    res["fidelity"] = _FIDELITY.score_dirs(ref_dir, dec_dir, notes=True)
    return json.loads(json.dumps(res))


class Scorer:
    """shared/eval/score.py run by a pool of worker processes that each load the script once.

    `score.py REF DEC --json` is `print(json.dumps(score_dirs(REF, DEC, use_visqol=...)))`; calling
    its `score_dirs` with the same arguments gives the same numbers by construction, without paying
    the ~4 s of imports (and ViSQOL's numba JIT) for every folder scored. Jobs run in the background
    while the caller codes the next setting."""

    def __init__(self, shared: str, workers: int = 2):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self.shared = shared
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_scorer_init,
                                        initargs=(os.path.join(shared, "eval", "score.py"),))

    def submit(self, dec_dirs: dict[str, str], visqol: bool) -> dict:
        """{set: future of the score.py result for that set's decoded folder}"""
        return {name: self.pool.submit(_scorer_run, os.path.join(self.shared, "eval", "dev", name), dec, visqol)
                for name, dec in dec_dirs.items()}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def stats(values) -> dict | None:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return None
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": int(len(v))}


def metric_stats(scored: dict) -> dict:
    """score.py JSON (with fidelity.py's under "fidelity") -> {metric: stats} over the per-file rows."""
    rows = scored["files"]
    out = {m: stats([r.get(m) for r in rows]) for m in METRICS if any(m in r for r in rows)}
    fid_rows = list((scored.get("fidelity") or {}).get("files", {}).values())
    out.update({m: stats([r.get(m) for r in fid_rows]) for m in FIDELITY_METRICS if any(m in r for r in fid_rows)})
    return out


# ----------------------------------------------------------------------------- subprocess timing
@dataclass
class Timed:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stderr: str


def timed_run(cmd: list[str], env: dict | None = None, check: bool = True) -> Timed:
    """Run `cmd`; return its wall time and its own peak RSS.

    The peak RSS comes from GNU time (`/usr/bin/time -f %M`), which forks the command from its own
    small process: the rusage of a child forked straight from this (large) Python process would
    include this process's memory (Linux keeps the pre-exec high-water mark in ru_maxrss). Without
    /usr/bin/time, the os.wait4 rusage of the child is used (an upper bound)."""
    import tempfile
    gnu_time = os.path.exists("/usr/bin/time")
    with tempfile.NamedTemporaryFile(prefix="bench-rss-", suffix=".txt") as tf:
        full = ["/usr/bin/time", "-f", "%M", "-o", tf.name] + cmd if gnu_time else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        err = p.stderr.read()          # small for these tools; read before reaping so a full pipe cannot block
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stderr.close()
        rss_kib = float(ru.ru_maxrss)
        if gnu_time:
            try:
                rss_kib = float(open(tf.name).read().strip().splitlines()[-1])
            except (ValueError, IndexError):
                pass
    t = Timed(wall, rss_kib / 1024.0, p.returncode, err.decode(errors="replace"))
    if check and t.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({t.returncode}): {t.stderr.strip()[-800:]}")
    return t


def best_timed(cmd: list[str], repeat: int, env: dict | None = None) -> Timed:
    runs = [timed_run(cmd, env) for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r.wall_s)
    return Timed(best.wall_s, max(r.peak_rss_mb for r in runs), 0, "")


def thread_env(threads: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def cli_exe() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "spikecodec")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "spikecodec"]


# ----------------------------------------------------------------------------- machine
def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=repo_root(), check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=repo_root()).stdout.strip()
    except Exception:  # noqa: BLE001
        commit, dirty = "unknown", ""
    import torch
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "commit": commit, "dirty": bool(dirty),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "platform": platform.platform()}


def tool_versions() -> dict:
    v = {}
    for cmd, key in ((["opusenc", "--version"], "opusenc"), (["ffmpeg", "-version"], "ffmpeg")):
        try:
            line = subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
            v[key] = line.split(" Copyright")[0]
        except Exception:  # noqa: BLE001
            v[key] = None
    return v

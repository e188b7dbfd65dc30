"""Throughput of `spikecodec encode/decode --ray` on 1 and 2 local Ray nodes, for docs/cluster.md.

    PYTHONPATH=. .venv/bin/python docs/scripts/cluster_scaling.py [--files 32] [--seconds 60] [--nodes 1 2] [--repeat 3]

Writes a tree of synthetic clips (tests/conftest.py's `write_clip`: 16 kHz mono harmonic
notes), then for each cluster size starts a real cluster on 127.0.0.1 with `ray start` (a head
and N-1 worker nodes, one CPU each; tests/raycluster.py), times `encode DIR -O OUT --ray ADDR`
and `decode OUT -O WAV --ray ADDR` (whole commands: connecting, starting the workers and
loading the model included), checks the .spk files against local mode, and tears the cluster
down. Local `-j 1` and `-j 2` are timed as a reference. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "tests"))

from conftest import write_clip  # noqa: E402
from raycluster import Cluster  # noqa: E402


def _timed(run, *args) -> float:
    t = time.monotonic()
    r = run(*args)
    dt = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, args))}\n{r.stderr.decode()[-2000:]}")
    return dt


def _fmt(times: list, audio_s: float) -> str:
    """Median wall time (all runs), and real-time factor of the median."""
    m = statistics.median(times)
    return f"{m:.1f} ({', '.join(f'{t:.1f}' for t in times)}) | {audio_s / m:.0f}"


class _PeakRSS:
    """Largest resident memory of any Ray worker of ours (process title ray::_Coder...), sampled."""

    def __init__(self):
        self.peak_kib, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for d in os.listdir("/proc"):
                try:
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        if not f.read().startswith(b"ray::_Coder"):
                            continue
                    with open(f"/proc/{d}/status") as f:
                        kib = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
                    self.peak_kib = max(self.peak_kib, kib)
                except (OSError, StopIteration, ValueError):
                    pass

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _spk(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.spk"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="cluster sizes (head included)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each setup, interleaved; the median is shown")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spkscale"))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE.parents[2]))

    def local(*args):
        return subprocess.run([sys.executable, "-m", "spikecodec", *map(str, args)], env=env, capture_output=True)

    try:
        src = work / "music"
        for i in range(a.files):
            write_clip(src / f"d{i % 4}" / f"clip{i}.wav", seconds=a.seconds, sr=16000, seed=i)
        hours = a.files * a.seconds / 3600
        runs: dict = {}  # setup name -> (workers, [encode s], [decode s])
        peak, load = 0, [os.getloadavg()[0]]
        reference = None
        for rep in range(a.repeat):
            for j in (1, 2):
                out = work / f"local{j}-{rep}"
                e = _timed(local, "encode", src, "-O", out, "-j", j)
                d = _timed(local, "decode", out, "-O", work / f"local{j}-{rep}-wav", "-j", j)
                reference = reference or _spk(out)
                r = runs.setdefault(f"local `-j {j}`", (j, [], []))
                r[1].append(e)
                r[2].append(d)
            for n in a.nodes:
                c = Cluster(worker_nodes=n - 1)
                try:
                    c.start()
                    out = work / f"ray{n}-{rep}"
                    with _PeakRSS() as rss:
                        e = _timed(c.run, "encode", src, "-O", out, "--ray", c.address)
                        d = _timed(c.run, "decode", out, "-O", work / f"ray{n}-{rep}-wav", "--ray", c.address)
                    peak = max(peak, rss.peak_kib)
                finally:
                    c.stop()
                assert _spk(out) == reference, "cluster output differs from local mode"
                r = runs.setdefault(f"Ray, {n} node{'s' if n > 1 else ''} × 1 CPU", (n, [], []))
                r[1].append(e)
                r[2].append(d)
            load.append(os.getloadavg()[0])
        print(f"{a.files} files × {a.seconds:g} s = {hours * 60:.0f} min of 16 kHz mono audio; {os.cpu_count()} cores; "
              f"1-min load average {', '.join(f'{x:.1f}' for x in load)} (before, and after each round); "
              f"whole-command wall time, median of {a.repeat} (each run)\n")
        print("| setup | workers | encode s | encode × real time | decode s | decode × real time |")
        print("|---|---|---|---|---|---|")
        for name, (w, e, d) in runs.items():
            print(f"| {name} | {w} | {_fmt(e, hours * 3600)} | {_fmt(d, hours * 3600)} |")
        print(f"\nLargest Ray worker resident memory: {peak / 1024:.0f} MiB; .spk files identical to local mode")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

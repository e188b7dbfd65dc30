"""Throughput of `spikecodec encode/decode --ray` on 1 and 2 local Ray nodes, for docs/cluster.md.

    PYTHONPATH=. .venv/bin/python docs/scripts/cluster_scaling.py [--files 32] [--seconds 60] [--nodes 1 2]

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
import subprocess
import sys
import tempfile
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


def _spk(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.spk"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="cluster sizes (head included)")
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
        rows = []
        for j in (1, 2):
            e = _timed(local, "encode", src, "-O", work / f"local{j}", "-j", j)
            d = _timed(local, "decode", work / f"local{j}", "-O", work / f"local{j}-wav", "-j", j)
            rows.append((f"local `-j {j}`", j, e, d))
        reference = _spk(work / "local1")
        for n in a.nodes:
            c = Cluster(worker_nodes=n - 1)
            try:
                c.start()
                out = work / f"ray{n}"
                e = _timed(c.run, "encode", src, "-O", out, "--ray", c.address)
                d = _timed(c.run, "decode", out, "-O", work / f"ray{n}-wav", "--ray", c.address)
            finally:
                c.stop()
            assert _spk(out) == reference, "cluster output differs from local mode"
            rows.append((f"Ray, {n} node{'s' if n > 1 else ''} × 1 CPU", n, e, d))
        print(f"{a.files} files × {a.seconds:g} s = {hours * 60:.0f} min of 16 kHz mono audio; "
              f"{os.cpu_count()} cores; whole-command wall time\n")
        print("| setup | workers | encode s | encode × real time | decode s | decode × real time |")
        print("|---|---|---|---|---|---|")
        for name, w, e, d in rows:
            print(f"| {name} | {w} | {e:.1f} | {hours * 3600 / e:.0f} | {d:.1f} | {hours * 3600 / d:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Opus and MP3 on the dev set, scored by both scorers (score.py without ViSQOL, and fidelity.py):
the anchors of the README's fidelity table, without a whole `make bench`.

    python docs/scripts/anchors_fidelity.py [--out anchors.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from spikecodec.benchmarks import classical
from spikecodec.shareddata import dev_clips, shared_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    a = ap.parse_args()
    shared = shared_dir()
    rows = []
    with tempfile.TemporaryDirectory(prefix="spikecodec-anchors-") as tmp:
        for s in classical.settings():
            row = {"label": s["label"]}
            for name in ("piano", "music"):
                ref = os.path.join(shared, "eval", "dev", name)
                dec = os.path.join(tmp, s["label"].replace(" ", "_"), name)
                coded = classical.code_set(s["codec"], s["kbps"], dev_clips(name, shared=shared), dec + "-enc", dec)
                run = lambda script, *extra: json.loads(subprocess.run(   # noqa: E731
                    [sys.executable, os.path.join(shared, "eval", script), ref, dec, "--json", *extra],
                    check=True, capture_output=True, text=True).stdout)
                score, fid = run("score.py", "--no-visqol"), run("fidelity.py")
                row[name] = {"kbps": float(np.mean([c["kbps"] for c in coded])),
                             "lmd": score["mean"]["lmd"], **fid["mean"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

"""encode/decode --ray on a real Ray cluster: a head and a worker node on 127.0.0.1, one CPU each.

The cluster is started with `ray start` (as docs/cluster.md tells users to) and torn down at
the end by killing exactly the processes it started. Checked: outputs byte-identical to local
mode (CLI and Python API), a rerun skips what is done, a killed worker node loses nothing (its
files go to the other worker), and a killed job leaves no partial output and a rerun finishes it.
"""
from __future__ import annotations

import importlib.util
import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import run_module, write_clip
from raycluster import Cluster, _kill, _tree

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("default_model")]


@pytest.fixture(scope="module")
def cluster():
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'spikecodec[ray]'; make install does)")
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()
        assert not c.ours(), "Ray processes left running"


def _tree_of_clips(root: Path, n: int, seconds: float) -> Path:
    for i in range(n):
        sub = "" if i % 3 == 0 else ("a/" if i % 3 == 1 else "a/b/")
        write_clip(root / f"{sub}clip{i}.wav", seconds=seconds, sr=16000, seed=i)
    write_clip(root / "a" / "stereo.flac", seconds=seconds, sr=44100, channels=2, seed=99)
    return root


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _same_audio(a: dict, b: dict) -> bool:
    """Decoded trees ({relative path: bytes}) hold the same files with the same samples, format and rate.

    Not bytes: libsndfile stamps the time into a float WAV's PEAK chunk, so two local runs differ too.
    """
    import numpy as np
    import soundfile as sf

    if set(a) != set(b):
        return False
    for k in a:
        (x, rx), (y, ry) = sf.read(io.BytesIO(a[k]), dtype="float32"), sf.read(io.BytesIO(b[k]), dtype="float32")
        if rx != ry or x.shape != y.shape or not np.array_equal(x, y) or \
                sf.info(io.BytesIO(a[k])).subtype != sf.info(io.BytesIO(b[k])).subtype:
            return False
    return True


def _no_parts(root: Path) -> None:
    parts = [str(p) for p in root.rglob("*.part")]
    assert not parts, f"partial outputs left: {parts}"


def test_encode_tree_on_cluster_is_byte_identical_to_local_and_a_rerun_skips(cluster, tmp_path):
    src = _tree_of_clips(tmp_path / "music", 6, 1.0)
    r = run_module("encode", src, "-O", tmp_path / "local")
    assert r.returncode == 0, r.stderr.decode()
    r = cluster.run("encode", src, "-O", tmp_path / "ray", "-v", "--ray", cluster.address)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "2 Ray worker(s)" in err and "on 2 node(s)" in err, err
    local, ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert len(local) == 7 and set(local) == set(ray)
    assert local == ray  # byte-identical .spk files, tree mirrored
    _no_parts(tmp_path / "ray")

    # A rerun without -f skips what exists and succeeds; with -f it recodes all, identically.
    (tmp_path / "ray" / "a" / "clip1.spk").unlink()
    r = cluster.run("encode", src, "-O", tmp_path / "ray", "--ray", cluster.address)
    assert r.returncode == 0, r.stderr.decode()
    assert "6 of 7 outputs already exist and were skipped" in r.stderr.decode()
    assert _files(tmp_path / "ray") == local


_API = """
import json, sys
from spikecodec.batch import decode_tree, encode_tree
address, src, out = sys.argv[1:]
reps = [encode_tree(src, out + "/api", ray_address=address, progress=False),
        encode_tree(src, out + "/api", ray_address=address, progress=False),
        decode_tree(out + "/api", out + "/api-dec", ray_address=address, progress=False)]
print(json.dumps([[r.ok, len(r.written), len(r.skipped), r.failed] for r in reps]))
"""


def test_python_api_encode_tree_and_decode_tree(cluster, tmp_path):
    src = _tree_of_clips(tmp_path / "music", 3, 1.0)
    assert run_module("encode", src, "-O", tmp_path / "local").returncode == 0
    assert run_module("decode", tmp_path / "local", "-O", tmp_path / "local-dec").returncode == 0
    r = subprocess.run([sys.executable, "-c", _API, cluster.address, str(src), str(tmp_path)], env=cluster.env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    first, again, dec = json.loads(r.stdout)
    assert first == [True, 4, 0, []]  # 3 mono clips and a stereo one
    assert again == [True, 0, 4, []]  # existing outputs are skipped
    assert dec == [True, 4, 0, []]
    assert _files(tmp_path / "api") == _files(tmp_path / "local")
    assert _same_audio(_files(tmp_path / "api-dec"), _files(tmp_path / "local-dec"))


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> tuple:
    """A tree of 10 .spk files of 24 s each, and its local-mode decoding ({relative path: bytes})."""
    root = tmp_path_factory.mktemp("coded")
    for i in range(10):
        write_clip(root / "music" / ("" if i % 2 else "sub/") / f"song{i}.wav", seconds=24.0, sr=16000, seed=i)
    r = run_module("encode", root / "music", "-O", root / "coded", "-j", "2")
    assert r.returncode == 0, r.stderr.decode()
    r = run_module("decode", root / "coded", "-O", root / "local", "-j", "2")
    assert r.returncode == 0, r.stderr.decode()
    return root / "coded", _files(root / "local")


def _popen(cluster, *args) -> tuple:
    """The CLI as a child process; returns (process, list of stderr lines, filled as they come)."""
    p = subprocess.Popen([sys.executable, "-m", "spikecodec", *[str(a) for a in args]], env=cluster.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list = []
    threading.Thread(target=lambda: lines.extend(iter(p.stderr.readline, "")), daemon=True).start()
    return p, lines


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killed_job_leaves_no_partial_output_and_a_rerun_finishes_it(cluster, coded, tmp_path):
    coded, local = coded
    out = tmp_path / "ray"
    p, lines = _popen(cluster, "decode", coded, "-O", out, "-v", "--ray", cluster.address)
    try:
        _wait(lambda: any(out.rglob("*.wav")) or p.poll() is not None, 120, "a first output")
    finally:
        _kill(_tree([p.pid]))  # the driver dies; Ray kills its workers
        p.wait()
    assert p.returncode == -signal.SIGKILL
    done = {k: v for k, v in _files(out).items() if not Path(k).name.startswith(".")}
    assert 0 < len(done) < len(local), "".join(lines)
    assert _same_audio(done, {k: local[k] for k in done})  # whatever exists is complete
    r = cluster.run("decode", coded, "-O", out, "--ray", cluster.address)
    assert r.returncode == 0, r.stderr.decode()
    assert _same_audio(_files(out), local)
    _no_parts(out)


def test_killed_worker_node_loses_nothing(cluster, coded, tmp_path):
    """Last in this module: the worker node stays dead."""
    coded, local = coded
    out = tmp_path / "ray"
    p, lines = _popen(cluster, "decode", coded, "-O", out, "-v", "--ray", cluster.address)
    try:
        # Both workers ready, and work under way, then the worker node (not the head) dies.
        _wait(lambda: sum("Ray worker ready" in x for x in lines) == 2 or p.poll() is not None, 120, "two workers")
        _wait(lambda: any(out.rglob("*.wav")) or p.poll() is not None, 120, "a first output")
        assert p.poll() is None, "".join(lines)
        cluster.kill_worker_node()
        p.wait(timeout=240)
    finally:
        if p.poll() is None:
            _kill(_tree([p.pid]))
    err = "".join(lines)
    assert p.returncode == 0, err
    assert "a Ray worker was lost" in err, err
    assert _same_audio(_files(out), local)  # every file, complete and identical
    _no_parts(out)

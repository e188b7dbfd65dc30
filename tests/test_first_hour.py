"""Issue 14, "the first hour of a new user": output sample format, SIGTERM, per-file progress,
--target-kbps, one-line usage errors, messages, `spikecodec help` (see also test_first_hour_repo.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, read_pty, run_module, write_clip

ERR = "spikecodec: error: "


# ----------------------------------------------------------------- 6. usage errors: one line, exit 2

@pytest.mark.parametrize("args", [
    ["encode"],
    ["encode", "a.wav", "--level", "32"],
    ["encode", "a.wav", "--quality-floor", "-1"],
    ["encode", "a.wav", "--quality-floor", "0"],
    ["encode", "--no-such-option", "a.wav"],
    ["decode", "a.spk", "--format", "mp3"],
    ["decode", "a.spk", "-o", "x.ogg"],
    ["frobnicate"],
    ["plot", "a.spk", "--end", "1", "--start", "2"],
])
def test_usage_error_is_one_line(cli_run, tmp_path, args):
    write_clip(tmp_path / "a.wav", seconds=0.2)
    (tmp_path / "a.spk").write_bytes(b"x")
    r = cli_run(*args, cwd=tmp_path)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERR), r.stderr
    assert "Usage:" not in r.stderr and "Try " not in r.stderr


def test_usage_error_one_line_in_a_real_process(tmp_path):
    r = run_module("encode", "x.wav", "--quality-floor", "-1", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERR) and "--quality-floor" in lines[0], r.stderr


def test_no_arguments_still_shows_the_help(tmp_path):
    r = run_module(cwd=tmp_path)
    assert b"Commands:" in r.stdout + r.stderr


# ----------------------------------------------------------------- 10. help

def test_help_command(cli_run):
    r = cli_run("help")
    assert r.exit_code == 0 and "Commands:" in r.stdout and "encode" in r.stdout
    for cmd in ("encode", "decode", "info", "plot", "concat"):
        r = cli_run("help", cmd)
        assert r.exit_code == 0, r.stderr
        assert r.stdout.startswith("Usage: ") and f" {cmd} [OPTIONS]" in r.stdout.splitlines()[0], r.stdout
        assert r.stdout == cli_run(cmd, "--help").stdout
    r = cli_run("help", "nope")
    assert r.exit_code == 2 and r.stderr.startswith(ERR) and len(r.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------- 7. messages

def test_info_missing_file_names_the_path_once(cli_run, tmp_path):
    p = tmp_path / "missing.spk"
    r = cli_run("info", p)
    assert r.exit_code == 1
    assert r.stderr.strip() == f"{ERR}{p}: no such file or directory"


def test_truncated_file_merges_adjacent_lost_clips(cli_run, tmp_path, spk_bytes):
    from spikecodec.bitstream import read_spk

    data = spk_bytes(channels=2, seconds=300.0)
    cut = data[: len(data) // 2]
    lost = read_spk(cut).damaged
    assert len(lost) > 20
    p = tmp_path / "cut.spk"
    p.write_bytes(cut)
    r = cli_run("info", p)
    assert r.exit_code == 1
    (line,) = r.stderr.strip().splitlines()
    first = min(s for c, _, s, _ in lost if c == 0)
    last = max(e for c, _, _, e in lost if c == 0)
    assert f"{len(lost)} clip(s) lost (ch0 {first:.2f}-{last:.2f} s, ch1 {first:.2f}-{last:.2f} s)" in line, line


def test_summary_when_every_input_fails(cli_run, tmp_path, spk_bytes):
    d = tmp_path / "coded"
    d.mkdir()
    for name in ("a", "b"):
        (d / f"{name}.spk").write_bytes(spk_bytes())
        (d / f"{name}.wav").write_bytes(b"exists")  # refused without -f, before any decoding
    r = cli_run("decode", d)
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1].startswith(f"{ERR}2 of 2 inputs failed"), r.stderr
    r = cli_run("decode", tmp_path / "x.spk", tmp_path / "y.spk")
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1].startswith(f"{ERR}2 of 2 inputs failed"), r.stderr


def test_concat_same_model_different_source_rate_says_so(cli_run, tmp_path, spk_bytes):
    (tmp_path / "a.spk").write_bytes(spk_bytes(sr=16000))
    (tmp_path / "b.spk").write_bytes(spk_bytes(sr=22050))
    r = cli_run("concat", tmp_path / "a.spk", tmp_path / "b.spk", "-o", tmp_path / "ab.spk")
    assert r.exit_code == 1
    (line,) = r.stderr.strip().splitlines()
    assert "different models" not in line
    assert "source sample rate" in line and "16000 Hz != 22050 Hz" in line, line


# ----------------------------------------------------------------- 1. output sample format

def test_soft_limit_never_reaches_full_scale():
    from spikecodec.audio import LIMIT_KNEE, soft_limit

    x = np.linspace(-3, 3, 10001, dtype=np.float32)[:, None]
    y, n = soft_limit(x)
    assert n == int((np.abs(x) > LIMIT_KNEE).sum())
    assert np.abs(y).max() <= 1.0
    assert np.abs(y[np.abs(x) <= 1.25]).max() < 32767 / 32768  # +1.9 dBFS (the decoder's worst seen): no clip
    assert np.all(np.diff(y[:, 0]) >= 0)  # monotone: no wrap, no fold-back
    quiet = np.abs(x) <= LIMIT_KNEE
    assert np.array_equal(y[quiet], x[quiet])  # untouched below the knee


def _loud_blocks(monkeypatch):
    """Make the decoder's output peak at +1.9 dBFS, the worst the issue saw from the model."""
    import spikecodec.compress as compress

    def loud(spk, model, rate):
        n, c = spk.header.num_samples, spk.header.channels
        t = np.arange(n) / rate
        x = (1.25 * np.sin(2 * np.pi * 441 * t)).astype(np.float32)
        yield np.repeat(x[:, None], c, axis=1)

    monkeypatch.setattr(compress, "_output_blocks", loud)


def test_decode_writes_16_bit_pcm_never_over_full_scale(cli_run, tmp_path, model_spk, monkeypatch):
    p = tmp_path / "a.spk"
    p.write_bytes(model_spk(channels=2, seconds=1.0))
    _loud_blocks(monkeypatch)
    r = cli_run("decode", p)
    assert r.exit_code == 0, r.stderr
    info = sf.info(str(tmp_path / "a.wav"))
    assert info.subtype == "PCM_16" and info.channels == 2
    y, _ = sf.read(str(tmp_path / "a.wav"), dtype="int16")
    assert y.max() < 32767 and y.min() > -32768  # soft-limited, not clipped (nor wrapped)
    assert y.max() > 32000  # and still loud
    assert np.all(np.sign(y[:, 0]) == np.sign(np.round(1.25 * np.sin(2 * np.pi * 441 * np.arange(len(y)) / 16000)
                                                   * 32768)).astype(np.int16))
    r = cli_run("decode", p, "-o", tmp_path / "a.flac")
    assert r.exit_code == 0, r.stderr
    assert sf.info(str(tmp_path / "a.flac")).subtype == "PCM_24"
    y, _ = sf.read(str(tmp_path / "a.flac"), dtype="int32")
    assert (y >> 8).max() < 2 ** 23 - 1 and (y >> 8).min() > -(2 ** 23)  # FLAC does not clip silently
    r = cli_run("decode", p, "-o", tmp_path / "f.wav", "--float")
    assert r.exit_code == 0, r.stderr
    assert sf.info(str(tmp_path / "f.wav")).subtype == "FLOAT"
    y, _ = sf.read(str(tmp_path / "f.wav"))
    assert np.abs(y).max() > 1.2  # float keeps what the decoder gave
    r = cli_run("decode", p, "-o", tmp_path / "x.flac", "--float")
    assert r.exit_code == 2 and r.stderr.startswith(ERR)


def test_decode_stdout_is_16_bit_too(cli_run, tmp_path, model_spk):
    import io

    p = tmp_path / "a.spk"
    p.write_bytes(model_spk(channels=1, seconds=0.5))
    r = run_module("decode", p, "-o", "-")
    assert r.returncode == 0, r.stderr
    assert sf.info(io.BytesIO(r.stdout)).subtype == "PCM_16"


# ----------------------------------------------------------------- 2. SIGTERM cleans up

def _wait_for_parts(folder, proc, n, timeout=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        parts = [p for p in Path(folder).rglob(".*.part")]
        if len(parts) >= n:
            return parts
        if proc.poll() is not None:
            return []
        time.sleep(0.02)
    return []


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_removes_the_temporary_output(tmp_path, model_spk, jobs):
    """kill -TERM (timeout, systemctl stop, a job scheduler) cleans up as Ctrl-C does, with the
    worker processes of -j too."""
    src = tmp_path / "in"
    src.mkdir()
    for k in range(jobs):
        (src / f"long{k}.spk").write_bytes(model_spk(channels=2, seconds=600.0, density=0.1, seed=k))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "spikecodec", "decode", str(src), "-O", str(out), "-j", str(jobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        parts = _wait_for_parts(out, proc, jobs)
        assert parts, "the decoder never started writing"
        time.sleep(0.3)  # well inside the decoding of 10 minutes of audio
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert [p for p in out.rglob("*") if p.is_file()] == []  # neither long.wav nor .long.wav.*.part
    assert stderr.decode().strip() == f"{ERR}terminated"


# ----------------------------------------------------------------- 4. per-file progress on a terminal

def test_progress_within_one_file_on_a_terminal(tmp_path, model_spk):
    import pty

    src = tmp_path / "a.spk"
    src.write_bytes(model_spk(channels=1, seconds=60.0))
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="100")
    try:
        p = subprocess.Popen([sys.executable, "-m", "spikecodec", "decode", str(src)], stdout=subprocess.DEVNULL,
                             stderr=slave, env=env)
        os.close(slave)
        output = read_pty(master)
        p.wait(timeout=120)
    finally:
        os.close(master)
    text = output.decode(errors="replace")
    assert p.returncode == 0, text
    assert "decode " in text and f"{src.name}:" in text and "%" in text, text
    pcts = {int(x) for x in __import__("re").findall(r"(\d+)%", text)}
    assert pcts & set(range(1, 100)), text  # a percentage between the ends, not only 0 % / 100 %


def test_no_progress_when_stderr_is_not_a_terminal(cli_run, tmp_path, model_spk):
    src = tmp_path / "a.spk"
    src.write_bytes(model_spk(channels=1, seconds=2.0))
    r = cli_run("decode", src)
    assert r.exit_code == 0 and r.stderr == ""


# ----------------------------------------------------------------- 5. --target-kbps is the file's rate

def test_target_kbps_is_the_whole_file_rate(cli_run, tmp_path, default_model):
    from spikecodec.bitstream import inspect_spk

    if not default_model.config.num_levels:
        pytest.skip("the default model has no levels")
    src = write_clip(tmp_path / "st.wav", seconds=12.0, sr=16000, channels=2)
    out = tmp_path / "st.spk"
    r = cli_run("encode", src, "-o", out, "--target-kbps", "1.5")
    assert r.exit_code == 0, r.stderr
    kbps = inspect_spk(out.read_bytes()).bitrate_kbps
    assert kbps <= 1.5 * 1.05, kbps  # stereo: the two channels share the 1.5 kbps (it was 2.7)
    assert r.stderr == ""
    r = cli_run("encode", src, "-o", tmp_path / "low.spk", "--target-kbps", "0.05")
    assert r.exit_code == 0, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"spikecodec: warning: {src}: --target-kbps 0.05 not reached"), line
    r = cli_run("encode", src, "-o", tmp_path / "q.spk", "--target-kbps", "0.05", "-q")
    assert r.exit_code == 0 and r.stderr == ""


# ----------------------------------------------------------------- 3. plot --spectrogram memory

_PLOT_CHILD = r'''
import json, resource, sys
import numpy as np
import spikecodec, spikecodec.compress as compress

class FakeModel:
    name = "fake"
    device = "cpu"

def fake_blocks(spk, model):
    """What the decoder yields (model-rate audio, a clip group at a time), without the model's cost."""
    h = spk.header
    step = compress.CLIPS_PER_CALL * h.frames_per_clip * h.hop
    n = h.num_frames * h.hop
    for i in range(0, n, step):
        m = min(step, n - i)
        t = (i + np.arange(m)) / h.model_sample_rate
        yield np.repeat((0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None], h.channels, axis=1)

spikecodec.load_model = lambda spec, device="cpu": FakeModel()
compress._load_for = lambda spk, model, device: FakeModel()
compress._model_rate_blocks = fake_blocks
from spikecodec.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def test_plot_spectrogram_of_one_hour_stays_under_1_gb(tmp_path, spk_bytes):
    """A 1-hour stereo file through `plot --spectrogram`, measured as the child's peak RSS. The model is
    replaced by a generator of its output's shape (its own memory is bounded per clip group, see
    docs/benchmarks.md); the source rate is 8 kHz to keep the test cheap: before the fix the whole
    decoded signal and every STFT frame were held at once (several GB here)."""
    import json

    src = tmp_path / "hour.spk"
    src.write_bytes(spk_bytes(channels=2, seconds=3600.0, sr=8000, density=0.01))
    script = tmp_path / "child.py"
    script.write_text(_PLOT_CHILD)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(script), "plot", str(src), "--spectrogram", "-o", str(tmp_path / "h.png")],
                       capture_output=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert res["code"] == 0, r.stderr.decode()
    assert res["maxrss_mb"] < 1024, res
    assert (tmp_path / "h.png").stat().st_size > 10000


def test_pooled_spectrogram_matches_the_plain_one():
    from spikecodec.events.plot import _PooledSpectrogram, _spectrogram

    x = np.random.default_rng(0).standard_normal(50000)
    _, _, full = _spectrogram(x, 16000, 512)
    acc = _PooledSpectrogram(16000, 512, pool=7)
    for i in range(0, len(x), 3001):  # any block size
        acc.feed(x[i:i + 3001])
    _, _, pooled = acc.result()
    n = full.shape[1]
    assert pooled.shape[1] == -(-n // 7)
    want = np.stack([full[:, i:i + 7].max(axis=1) for i in range(0, n, 7)], axis=1)
    assert np.allclose(pooled, want)

"""Standard input/output ('-'), real subprocess pipelines, and the worker pool (-j)."""
from __future__ import annotations

import io
import json

import pytest
import soundfile as sf

from conftest import read_pty, run_module, write_clip

pytestmark = pytest.mark.usefixtures("default_model")


def test_stdin_to_stdout_in_process(cli_run, tmp_path):
    src = write_clip(tmp_path / "a.flac", seconds=0.8, sr=22050, channels=2)
    r = cli_run("encode", "-", "-o", "-", input=src.read_bytes())
    assert r.exit_code == 0, r.stderr
    spk = r.stdout_bytes
    assert spk and r.stderr == ""
    r = cli_run("decode", "-", "-o", "-", input=spk)
    assert r.exit_code == 0, r.stderr
    info = sf.info(io.BytesIO(r.stdout_bytes))
    assert (info.format, info.samplerate, info.channels, info.frames) == ("WAV", 22050, 2, 17640)


def test_stdin_defaults_to_stdout_and_info_reads_stdin(cli_run, tmp_path):
    src = write_clip(tmp_path / "a.wav", seconds=0.5)
    r = cli_run("encode", "-", input=src.read_bytes())  # like gzip: stdin -> stdout
    assert r.exit_code == 0, r.stderr
    r = cli_run("info", "--json", "-", input=r.stdout_bytes)
    assert json.loads(r.stdout)["num_samples"] == 8000


def test_stdin_to_file_and_file_to_stdout(cli_run, tmp_path):
    src = write_clip(tmp_path / "a.wav", seconds=0.5, channels=2)
    r = cli_run("encode", "-", "-o", tmp_path / "piped.spk", input=src.read_bytes())
    assert r.exit_code == 0, r.stderr
    r = cli_run("decode", tmp_path / "piped.spk", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert sf.info(io.BytesIO(r.stdout_bytes)).frames == 8000


def test_bad_stdin_is_one_line_error(cli_run):
    r = cli_run("encode", "-", "-o", "-", input=b"not audio at all")
    assert r.exit_code == 1
    assert r.stdout_bytes == b""
    assert r.stderr.startswith("spikecodec: error: <stdin>: ") and r.stderr.count("\n") == 1
    r = cli_run("decode", "-", "-o", "-", input=b"not a spk")
    assert r.exit_code == 1 and r.stdout_bytes == b""
    assert r.stderr.startswith("spikecodec: error: <stdin>: ")


@pytest.mark.slow
def test_real_process_pipeline(tmp_path):
    """`spikecodec encode - -o - < a.wav | spikecodec decode - -o - > b.wav` as real processes."""
    src = write_clip(tmp_path / "a.wav", seconds=1.0, sr=48000, channels=2)
    enc = run_module("encode", "-", "-o", "-", input=src.read_bytes())
    assert enc.returncode == 0, enc.stderr
    assert enc.stderr == b""
    dec = run_module("decode", "-", "-o", "-", input=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    assert dec.stderr == b""
    info = sf.info(io.BytesIO(dec.stdout))
    assert (info.samplerate, info.channels, info.frames) == (48000, 2, 48000)
    # exit status of a real process with a bad input among good ones
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    p = run_module("encode", bad, src, "-O", tmp_path / "o")
    assert p.returncode == 1
    assert b"Traceback" not in p.stderr
    assert (tmp_path / "o" / "a.spk").is_file()


@pytest.mark.slow
def test_jobs_worker_pool(cli_run, tmp_path):
    src = tmp_path / "many"
    for i in range(3):
        write_clip(src / f"c{i}.wav", seconds=0.5, seed=i)
    (src / "bad.wav").write_bytes(b"nope")
    r = cli_run("encode", src, "-O", tmp_path / "out", "-j", "2")
    assert r.exit_code == 1
    assert "bad.wav" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c0.spk", "c1.spk", "c2.spk"]
    r = cli_run("decode", tmp_path / "out", "-O", tmp_path / "back", "-j", "2")
    assert r.exit_code == 0, r.stderr
    assert all(sf.info(str(tmp_path / "back" / f"c{i}.wav")).frames == 8000 for i in range(3))


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(tmp_path):
    """A tqdm bar on stderr when stderr is a terminal; none (nothing at all) when it is a pipe."""
    import os
    import pty
    import subprocess
    import sys

    from conftest import REPO

    for i in range(2):
        write_clip(tmp_path / "in" / f"c{i}.wav", seconds=0.3, seed=i)
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a sized terminal
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        p = subprocess.run([sys.executable, "-m", "spikecodec", "encode", tmp_path / "in", "-O", tmp_path / "a"],
                           stdout=subprocess.PIPE, stderr=slave, cwd=REPO, env=env, timeout=300)
        os.close(slave)
        slave = None
        output = read_pty(master)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0
    tty_err = output.decode(errors="replace")
    assert "encode" in tty_err and "/2 [" in tty_err, tty_err
    piped = run_module("encode", tmp_path / "in", "-O", tmp_path / "b")
    assert piped.returncode == 0 and piped.stderr == b""


def test_quiet_hides_warnings_not_errors(cli_run, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli_run("encode", tmp_path / "empty")
    assert r.exit_code == 0 and "warning" in r.stderr and "no audio files" in r.stderr
    r = cli_run("encode", tmp_path / "empty", "-q")
    assert r.exit_code == 0 and r.stderr == ""
    r = cli_run("encode", tmp_path / "missing.wav", "-q")
    assert r.exit_code == 1 and "no such file" in r.stderr

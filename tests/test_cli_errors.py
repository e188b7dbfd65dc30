"""Bad inputs, exit codes 0/1/2, atomic writes, and the one-line error contract."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest
import soundfile as sf

from conftest import write_clip

ERR = "spikecodec: error: "


def one_error_line(stderr: str, path) -> str:
    lines = [x for x in stderr.strip().splitlines() if x.startswith(f"{ERR}{path}: ")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def no_temp_files(folder) -> bool:
    return not [p for p in os.listdir(folder) if p.startswith(".") and p.endswith(".part")]


# ----------------------------------------------------------------- usage errors (exit 2), no model needed

@pytest.mark.parametrize("args", [
    ["encode"],                                   # no input
    ["decode"],
    ["info"],
    ["encode", "a.wav", "b.wav", "-o", "x.spk"],  # -o with several inputs
    ["encode", "a.wav", "-o", "x.spk", "-O", "d"],
    ["encode", "a.wav", "--level", "32"],         # out of range
    ["encode", "a.wav", "--level", "-1"],
    ["encode", "a.wav", "--device", "tpu"],
    ["encode", "a.wav", "-q", "-v"],
    ["decode", "a.spk", "-o", "x.ogg"],           # unsupported output format
    ["decode", "a.spk", "--format", "mp3"],
    ["encode", "--no-such-option", "a.wav"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(cli_run, tmp_path, args):
    for name in ("a.wav", "b.wav"):
        write_clip(tmp_path / name, seconds=0.2)
    (tmp_path / "a.spk").write_bytes(b"x")
    r = cli_run(*args, cwd=tmp_path)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert not (tmp_path / "x.spk").exists()


def test_binary_output_never_to_a_terminal(tmp_path):
    """`encode -` with stdout on a terminal refuses (gzip-style) instead of spewing bytes."""
    import pty
    import subprocess
    import sys

    from conftest import REPO

    src = write_clip(tmp_path / "a.wav", seconds=0.2)
    master, slave = pty.openpty()
    try:
        with open(src, "rb") as f:
            p = subprocess.run([sys.executable, "-m", "spikecodec", "encode", "-"], stdin=f, stdout=slave,
                               stderr=subprocess.PIPE, cwd=REPO, timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 2
    assert b"terminal" in p.stderr


def test_version_and_help(cli_run):
    r = cli_run("--version")
    assert r.exit_code == 0 and "spikecodec" in r.stdout
    for cmd in ("encode", "decode", "info"):
        r = cli_run(cmd, "--help")
        assert r.exit_code == 0 and "Usage" in r.stdout


# ----------------------------------------------------------------- bad inputs (exit 1, one line, nothing lost)

def test_missing_input_is_reported_and_others_processed(cli_run, tmp_path, default_model):
    good = write_clip(tmp_path / "good.wav", seconds=0.5)
    r = cli_run("encode", tmp_path / "missing.wav", good)
    assert r.exit_code == 1
    assert "no such file" in one_error_line(r.stderr, tmp_path / "missing.wav")
    assert (tmp_path / "good.spk").is_file()


def _bad_audio(tmp_path):
    sr = 16000
    bad = {}
    p = tmp_path / "text.wav"
    p.write_text("this is not audio\n")
    bad["not audio"] = p
    p = tmp_path / "zero_bytes.wav"
    p.write_bytes(b"")
    bad["empty file"] = p
    p = tmp_path / "no_samples.wav"
    sf.write(str(p), np.zeros((0, 1), np.float32), sr)
    bad["0 samples"] = p
    p = tmp_path / "nan.wav"
    x = np.zeros((sr // 2, 1), np.float32)
    x[100] = np.nan
    sf.write(str(p), x, sr, subtype="FLOAT")
    bad["NaN"] = p
    p = tmp_path / "inf.wav"
    x = np.zeros((sr // 2, 2), np.float32)
    x[50, 1] = np.inf
    sf.write(str(p), x, sr, subtype="FLOAT")
    bad["inf"] = p
    p = tmp_path / "truncated.flac"
    write_clip(p, seconds=0.5)
    p.write_bytes(p.read_bytes()[:40])
    bad["truncated"] = p
    return bad


def test_bad_audio_inputs_each_one_line_no_output(cli_run, tmp_path, default_model):
    bad = _bad_audio(tmp_path)
    good = write_clip(tmp_path / "good.wav", seconds=0.5)
    r = cli_run("encode", *bad.values(), good)
    assert r.exit_code == 1
    for what, p in bad.items():
        one_error_line(r.stderr, p)
        assert not p.with_suffix(".spk").exists(), what
    assert (tmp_path / "good.spk").is_file()
    assert no_temp_files(tmp_path)
    assert r.stderr.strip().splitlines()[-1].startswith(f"{ERR}{len(bad)} of {len(bad) + 1} inputs failed")


def test_one_sample_audio_is_accepted(cli_run, tmp_path, default_model):
    """Decision: 1 sample is valid audio (as for flac); it comes back as exactly 1 sample."""
    p = tmp_path / "one.wav"
    sf.write(str(p), np.array([[0.25]], np.float32), 16000)
    r = cli_run("encode", p)
    assert r.exit_code == 0, r.stderr
    r = cli_run("decode", tmp_path / "one.spk", "-o", tmp_path / "back.wav")
    assert r.exit_code == 0, r.stderr
    assert sf.info(str(tmp_path / "back.wav")).frames == 1


def test_folder_mixing_good_and_bad(cli_run, tmp_path, default_model):
    src = tmp_path / "mixed"
    write_clip(src / "a.wav", seconds=0.5)
    write_clip(src / "sub" / "b.wav", seconds=0.5)
    (src / "sub" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    out = tmp_path / "out"
    r = cli_run("encode", src, "-O", out)
    assert r.exit_code == 1
    one_error_line(r.stderr, src / "sub" / "broken.wav")
    assert (out / "a.spk").is_file() and (out / "sub" / "b.spk").is_file()
    assert not (out / "sub" / "broken.spk").exists()
    assert no_temp_files(out / "sub")


def test_output_folder_not_writable(cli_run, tmp_path, default_model):
    src = write_clip(tmp_path / "a.wav", seconds=0.3)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    r = cli_run("encode", src, "-O", blocker / "out")
    assert r.exit_code == 1
    assert "output folder" in one_error_line(r.stderr, src)
    r = cli_run("encode", src, "-o", tmp_path / "nope" / "deeper" / "x.spk")
    assert r.exit_code == 0  # -o's folder is created like -O's
    if os.geteuid() == 0:
        return  # root ignores permission bits
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = cli_run("encode", src, "-O", ro)
        assert r.exit_code == 1
        one_error_line(r.stderr, src)
    finally:
        ro.chmod(0o700)


def test_device_cuda_without_cuda_is_a_clear_error(cli_run, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    src = write_clip(tmp_path / "a.wav", seconds=0.2)
    r = cli_run("encode", src, "--device", "cuda")
    assert r.exit_code == 2
    assert "CUDA" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a.spk").exists()


def test_unknown_model_option(cli_run, tmp_path):
    src = write_clip(tmp_path / "a.wav", seconds=0.2)
    r = cli_run("encode", src, "--model", "no-such-model")
    assert r.exit_code == 2
    assert "no-such-model" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a.spk").exists()


def _model_levels(name):
    import spikecodec

    try:
        return spikecodec.load_model(name, device="cpu").config.num_levels
    except Exception:  # noqa: BLE001 -- not installed
        return None


def test_level_needs_a_mu_model(cli_run, tmp_path, default_model):
    src = write_clip(tmp_path / "a.wav", seconds=0.3)
    plain = next((m for m in ("free", "sparse") if _model_levels(m) == 0), None)
    if plain is None:
        pytest.skip("no model without levels is installed")
    for opt in (["--level", "5"], ["--quality-floor", "0.5"]):
        r = cli_run("encode", src, "--model", plain, *opt)
        assert r.exit_code == 2, r.stderr
        assert opt[0] in r.stderr and "mu" in r.stderr
        assert not (tmp_path / "a.spk").exists()


def test_level_on_a_mu_model_is_recorded(cli_run, tmp_path, default_model):
    import json

    mu = next((m for m in ("default", "mu") if _model_levels(m)), None)
    assert mu is not None, "the shipped mu model has levels"
    src = write_clip(tmp_path / "a.wav", seconds=0.5)
    r = cli_run("encode", src, "--model", mu, "--level", "3")
    assert r.exit_code == 0, r.stderr
    d = json.loads(cli_run("info", "--json", tmp_path / "a.spk").stdout)
    assert {c["level"] for c in d["clips"]} == {3}


# ----------------------------------------------------------------- bad .spk files

def test_decode_unknown_model_names_it(cli_run, tmp_path, spk_bytes, default_model):
    p = tmp_path / "alien.spk"
    p.write_bytes(spk_bytes(model_name="alien-model-v9", model_id="deadbeef" * 2))
    r = cli_run("decode", p)
    assert r.exit_code == 1
    assert "alien-model-v9" in one_error_line(r.stderr, p)
    assert not (tmp_path / "alien.wav").exists()
    assert no_temp_files(tmp_path)
    # info still works without the model
    assert cli_run("info", p).exit_code == 0


def test_decode_truncated_and_garbage_spk(cli_run, tmp_path, model_spk):
    good = tmp_path / "good.spk"
    good.write_bytes(model_spk(seconds=0.5))
    trunc = tmp_path / "trunc.spk"
    trunc.write_bytes(model_spk(seconds=0.5)[:12])
    garbage = tmp_path / "garbage.spk"
    garbage.write_bytes(os.urandom(300))
    empty = tmp_path / "empty.spk"
    empty.write_bytes(b"")
    r = cli_run("decode", trunc, garbage, empty, good)
    assert r.exit_code == 1
    for p in (trunc, garbage, empty):
        one_error_line(r.stderr, p)
        assert not p.with_suffix(".wav").exists()
    assert (tmp_path / "good.wav").is_file()
    assert no_temp_files(tmp_path)


def test_decode_future_format_version(cli_run, tmp_path, model_spk):
    from spikecodec.bitstream import SpkFormatError, read_spk

    data = bytearray(model_spk(seconds=0.5))
    future = _bump_version(data)
    with pytest.raises(SpkFormatError):
        read_spk(future)
    p = tmp_path / "future.spk"
    p.write_bytes(future)
    r = cli_run("decode", p)
    assert r.exit_code == 1
    assert "version" in one_error_line(r.stderr, p).lower()
    assert cli_run("info", p).exit_code == 1


def _bump_version(data: bytearray) -> bytes:
    """A copy of a valid .spk claiming format version 3 (a future one), header CRC fixed (formats/spk-v1.md §3, §8)."""
    import struct
    import zlib

    d = bytearray(data)
    d[4] = 3
    hlen = struct.unpack_from(">H", d, 5)[0]
    struct.pack_into(">I", d, hlen - 4, zlib.crc32(bytes(d[:hlen - 4])) & 0xFFFFFFFF)
    return bytes(d)


def test_decode_damaged_writes_rest_and_exits_1(cli_run, tmp_path, model_spk):
    from spikecodec.bitstream import read_spk

    data = bytearray(model_spk(channels=2, seconds=12.0, density=0.1))
    data[len(data) // 2] ^= 0xFF  # a clip group in the middle fails its CRC
    damaged = read_spk(bytes(data)).damaged
    assert damaged
    p = tmp_path / "hurt.spk"
    p.write_bytes(bytes(data))
    r = cli_run("decode", p)
    assert r.exit_code == 1
    line = one_error_line(r.stderr, p)
    assert "damaged" in line
    ch, k, start, end = damaged[0]
    for c, k2, _, e2 in sorted(damaged):  # adjacent lost clips are one range
        if c == ch and k2 == k + 1:
            k, end = k2, e2
    assert f"ch{ch} {start:.2f}-{end:.2f} s" in line
    out = tmp_path / "hurt.wav"
    info = sf.info(str(out))
    assert (info.channels, info.frames) == (2, 12 * 16000)
    y, sr = sf.read(str(out), always_2d=True)
    lost = y[int((start + 0.1) * sr):int((end - 0.1) * sr), ch]
    assert lost.size and np.abs(lost).max() < 1e-3  # the lost clip is silent


# ----------------------------------------------------------------- atomic writes, internal errors

class _Boom(Exception):
    pass


def _patched_api(monkeypatch, exc, where):
    """Make the API write some bytes and then fail, mid-output."""
    import spikecodec.filejobs as cli_mod

    real = cli_mod._api()

    def enc(src, dst, **kw):
        dst.write(b"partial")
        raise exc

    def dec(data, dst, **kw):
        dst.write(b"RIFF partial")
        raise exc

    fake = types.SimpleNamespace(load_model=real.load_model, encode_file=real.encode_file,
                                 decode_file=real.decode_file)
    setattr(fake, where, enc if where == "encode_file" else dec)
    monkeypatch.setattr(cli_mod, "_api", lambda: fake)


@pytest.mark.parametrize("exc", [_Boom("disk on fire"), KeyboardInterrupt()])
def test_failed_encode_leaves_nothing(cli_run, tmp_path, monkeypatch, default_model, exc):
    src = write_clip(tmp_path / "a.wav", seconds=0.3)
    _patched_api(monkeypatch, exc, "encode_file")
    r = cli_run("encode", src)
    assert r.exit_code == (130 if isinstance(exc, KeyboardInterrupt) else 1)
    assert not (tmp_path / "a.spk").exists()
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("exc", [_Boom("disk on fire"), KeyboardInterrupt()])
def test_failed_decode_leaves_nothing_and_keeps_old_file(cli_run, tmp_path, monkeypatch, model_spk, exc):
    p = tmp_path / "a.spk"
    p.write_bytes(model_spk(seconds=0.5))
    old = tmp_path / "a.wav"
    old.write_bytes(b"the original")
    _patched_api(monkeypatch, exc, "decode_file")
    r = cli_run("decode", p, "-f")
    assert r.exit_code == (130 if isinstance(exc, KeyboardInterrupt) else 1)
    assert old.read_bytes() == b"the original"
    assert no_temp_files(tmp_path)


def test_atomic_output_unit(tmp_path):
    from spikecodec.cli import InputError, atomic_output

    target = tmp_path / "t.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target, force=False) as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert not target.exists() and os.listdir(tmp_path) == []
    with atomic_output(target, force=False) as f:
        f.write(b"whole")
    assert target.read_bytes() == b"whole"
    with pytest.raises(InputError):
        with atomic_output(target, force=False) as f:
            f.write(b"again")
    assert target.read_bytes() == b"whole"
    with atomic_output(target, force=True) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["t.bin"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_unexpected_exception_one_line_traceback_only_with_v(cli_run, tmp_path, monkeypatch, default_model):
    src = write_clip(tmp_path / "a.wav", seconds=0.3)
    _patched_api(monkeypatch, ZeroDivisionError("division by zero"), "encode_file")
    r = cli_run("encode", src)
    assert r.exit_code == 1
    assert "internal error" in one_error_line(r.stderr, src)
    r = cli_run("encode", src, "-v")
    assert r.exit_code == 1
    assert "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr


def test_two_inputs_same_output_name(cli_run, tmp_path, default_model):
    a = write_clip(tmp_path / "a.wav", seconds=0.3)
    b = write_clip(tmp_path / "a.flac", seconds=0.3, seed=1)
    r = cli_run("encode", a, b)
    assert r.exit_code == 1
    assert "also the output of" in one_error_line(r.stderr, b)
    assert (tmp_path / "a.spk").is_file()
    d = __import__("json").loads(cli_run("info", "--json", tmp_path / "a.spk").stdout)
    assert d["num_samples"] == int(0.3 * 16000)


def test_decode_input_that_is_not_named_spk(cli_run, tmp_path, model_spk):
    p = tmp_path / "noext"
    p.write_bytes(model_spk(seconds=0.4))
    r = cli_run("decode", p)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "noext.wav").is_file()

"""encode -> decode through the real CLI and the shipped default model.

Stereo stays stereo, the exact source length and rate come back, folders are
mirrored with -O, existing files are protected, --format / --sample-rate work.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, write_clip

pytestmark = pytest.mark.usefixtures("default_model")


def _roundtrip(cli_run, src, tmp_path, *decode_args, name="out.wav"):
    spk = tmp_path / (src.stem + ".spk")
    r = cli_run("encode", src, "-o", spk)
    assert r.exit_code == 0, r.stderr
    out = tmp_path / name
    r = cli_run("decode", spk, "-o", out, *decode_args)
    assert r.exit_code == 0, r.stderr
    return spk, out


def test_encode_default_output_beside_input_and_quiet_on_success(cli_run, clip):
    src = clip("song.wav", seconds=1.0, sr=16000)
    r = cli_run("encode", src)
    assert r.exit_code == 0, r.stderr
    assert (src.parent / "song.spk").is_file()
    assert r.stdout == "" and r.stderr == ""  # nothing unless asked (-v), stderr is not a terminal


def test_mono_roundtrip_exact_length_and_rate(cli_run, clip, tmp_path):
    src = clip("mono.wav", seconds=1.3, sr=16000)
    _, out = _roundtrip(cli_run, src, tmp_path)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, int(1.3 * 16000))
    assert info.format == "WAV"


def test_stereo_stays_stereo_at_44100(cli_run, clip, tmp_path):
    src = clip("stereo.flac", seconds=1.0, sr=44100, channels=2)
    spk, out = _roundtrip(cli_run, src, tmp_path)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 44100)
    r = cli_run("info", "--json", spk)
    d = json.loads(r.stdout)
    assert d["channels"] == 2 and d["source_sample_rate"] == 44100 and d["num_samples"] == 44100
    # the two channels were coded separately: they differ (different pitches went in)
    y, _ = sf.read(str(out))
    assert not np.allclose(y[:, 0], y[:, 1])


def test_decoded_audio_resembles_input(cli_run, tmp_path):
    # Music, not pure synthetic tones: on a steady 5-partial tone the decoder's free phase
    # cancels in overlap-add and the level drops to about 0.2 (docs/limitations in README).
    src = tmp_path / "piano.flac"
    shutil.copy(Path(__file__).parent.parent / "examples" / "piano.flac", src)
    _, out = _roundtrip(cli_run, src, tmp_path)
    x, _ = sf.read(str(src))
    y, _ = sf.read(str(out))
    assert y.shape == x.shape
    assert np.isfinite(y).all()
    assert np.abs(y).max() > 0.01  # not silence
    # loudness in the same ballpark (a 3 kbps codec is not sample-exact)
    rx, ry = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(y ** 2))
    assert 0.25 < ry / rx < 4.0


@pytest.mark.parametrize("sr", [8000, 96000])
def test_unusual_rates_are_resampled_and_restored(cli_run, clip, tmp_path, sr):
    src = clip(f"r{sr}.wav", seconds=0.7, sr=sr)
    _, out = _roundtrip(cli_run, src, tmp_path)
    info = sf.info(str(out))
    assert (info.samplerate, info.frames) == (sr, int(round(0.7 * sr)))


def test_eight_channels_accepted(cli_run, clip, tmp_path):
    src = clip("octo.wav", seconds=0.5, sr=16000, channels=8)
    _, out = _roundtrip(cli_run, src, tmp_path)
    info = sf.info(str(out))
    assert (info.channels, info.frames) == (8, 8000)


def test_decode_format_flac_and_sample_rate(cli_run, clip, tmp_path):
    src = clip("a.wav", seconds=1.0, sr=44100, channels=2)
    spk = tmp_path / "a.spk"
    assert cli_run("encode", src, "-o", spk).exit_code == 0
    # by extension
    r = cli_run("decode", spk, "-o", tmp_path / "x.flac")
    assert r.exit_code == 0, r.stderr
    assert sf.info(str(tmp_path / "x.flac")).format == "FLAC"
    # by --format, default name
    src.unlink()
    r = cli_run("decode", spk, "--format", "flac")
    assert r.exit_code == 0, r.stderr
    assert sf.info(str(tmp_path / "a.flac")).format == "FLAC"
    # --sample-rate
    r = cli_run("decode", spk, "-o", tmp_path / "low.wav", "--sample-rate", "16000")
    assert r.exit_code == 0, r.stderr
    info = sf.info(str(tmp_path / "low.wav"))
    assert (info.samplerate, info.channels, info.frames) == (16000, 2, 16000)


def test_decode_refuses_to_replace_the_original(cli_run, clip, tmp_path):
    src = clip("song.wav", seconds=0.5)
    original = src.read_bytes()
    assert cli_run("encode", src).exit_code == 0
    r = cli_run("decode", tmp_path / "song.spk")
    assert r.exit_code == 1
    assert src.read_bytes() == original
    line = r.stderr.strip()
    assert line.count("\n") == 0 and line.startswith(f"spikecodec: error: {tmp_path / 'song.spk'}: ")
    assert "-f" in line and "-o" in line
    # -o elsewhere works, -f replaces
    assert cli_run("decode", tmp_path / "song.spk", "-o", tmp_path / "copy.wav").exit_code == 0
    r = cli_run("decode", tmp_path / "song.spk", "-f")
    assert r.exit_code == 0, r.stderr
    assert src.read_bytes() != original
    assert sf.info(str(src)).frames == 8000


def test_encode_refuses_to_overwrite_without_force(cli_run, clip, tmp_path):
    src = clip("a.wav", seconds=0.5)
    spk = tmp_path / "a.spk"
    spk.write_bytes(b"precious")
    r = cli_run("encode", src)
    assert r.exit_code == 1
    assert spk.read_bytes() == b"precious"
    assert "already exists" in r.stderr
    r = cli_run("encode", src, "-f")
    assert r.exit_code == 0, r.stderr
    assert spk.read_bytes() != b"precious"


def test_folder_mirrored_under_output_dir(cli_run, tmp_path):
    src = tmp_path / "music"
    write_clip(src / "a.wav", seconds=0.5)
    write_clip(src / "album" / "b.flac", seconds=0.5, sr=22050, channels=2)
    write_clip(src / "album" / "cd2" / "c.wav", seconds=0.5, sr=8000)
    (src / "notes.txt").write_text("not audio, not picked up")
    out = tmp_path / "out"
    r = cli_run("encode", src, "-O", out)
    assert r.exit_code == 0, r.stderr
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["a.spk", "album/b.spk", "album/cd2/c.spk"]
    assert not list(src.rglob("*.spk"))
    # and back: decode the mirrored tree into another
    back = tmp_path / "back"
    r = cli_run("decode", out, "-O", back)
    assert r.exit_code == 0, r.stderr
    got = sorted(p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file())
    assert got == ["a.wav", "album/b.wav", "album/cd2/c.wav"]
    info = sf.info(str(back / "album" / "b.wav"))
    assert (info.samplerate, info.channels, info.frames) == (22050, 2, 11025)


def test_folder_without_output_dir_writes_beside(cli_run, tmp_path):
    src = tmp_path / "d"
    write_clip(src / "x.wav", seconds=0.5)
    write_clip(src / "sub" / "y.wav", seconds=0.5)
    r = cli_run("encode", src)
    assert r.exit_code == 0, r.stderr
    assert (src / "x.spk").is_file() and (src / "sub" / "y.spk").is_file()


def test_verbose_prints_per_file_detail(cli_run, clip):
    src = clip("v.wav", seconds=0.5)
    r = cli_run("encode", src, "-v")
    assert r.exit_code == 0
    assert "v.wav" in r.stderr and "kbps" in r.stderr


def test_example_clip_like_make_demo(cli_run, tmp_path):
    """What `make demo` runs, on the shipped example."""
    src = REPO / "examples" / "piano.flac"
    spk, out = tmp_path / "piano.spk", tmp_path / "piano.wav"
    assert cli_run("encode", src, "-o", spk).exit_code == 0
    assert cli_run("decode", spk, "-o", out).exit_code == 0
    r = cli_run("info", spk)
    assert r.exit_code == 0 and "bits by layout" in r.stdout
    assert sf.info(str(out)).frames == sf.info(str(src)).frames


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(min_value=2, max_value=24000),
    sr=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    channels=st.integers(min_value=1, max_value=3),
)
def test_random_shapes_round_trip(cli_run, tmp_path_factory, n, sr, channels):
    d = tmp_path_factory.mktemp("rt")
    x = (0.1 * np.random.default_rng(n).standard_normal((n, channels))).astype(np.float32)
    sf.write(str(d / "in.wav"), x, sr)
    assert cli_run("encode", d / "in.wav").exit_code == 0
    r = cli_run("decode", d / "in.spk", "-o", d / "out.wav")
    assert r.exit_code == 0, r.stderr
    info = sf.info(str(d / "out.wav"))
    assert (info.frames, info.samplerate, info.channels) == (n, sr, channels)


def test_spk_version_1_and_2_carry_the_same_events_and_audio(cli_run, tmp_path):
    """encode writes .spk v2 (entropy-coded clips) by default and the strict paper container with
    --spk-version 1: the same z and levels, so bit-identical audio, v2 much smaller."""
    src = tmp_path / "piano.flac"
    shutil.copy(Path(__file__).parent.parent / "examples" / "piano.flac", src)
    files = {}
    for v in ("1", "2"):
        spk = tmp_path / f"v{v}.spk"
        args = ("encode", src, "-o", spk) + (("--spk-version", "1") if v == "1" else ())
        r = cli_run(*args)
        assert r.exit_code == 0, r.stderr
        files[v] = spk.read_bytes()
        assert files[v][4] == int(v)
        r = cli_run("decode", spk, "-o", tmp_path / f"v{v}.wav")
        assert r.exit_code == 0, r.stderr
    from spikecodec.bitstream import inspect_spk, read_spk
    a, b = read_spk(files["1"]), read_spk(files["2"])
    assert all(np.array_equal(x, y) for x, y in zip(a.z, b.z))
    assert all(np.array_equal(x, y) for x, y in zip(a.levels, b.levels))
    assert "ctx" in {c.layout for c in inspect_spk(files["2"]).clips}
    assert len(files["2"]) < 0.6 * len(files["1"])
    assert (tmp_path / "v1.wav").read_bytes() == (tmp_path / "v2.wav").read_bytes()
    r = cli_run("encode", src, "-o", tmp_path / "x.spk", "--spk-version", "3")
    assert r.exit_code == 2


def test_target_kbps_counts_the_real_v2_bits(tmp_path):
    """--target-kbps / the quality floor price each clip at its real cost: in v2 that of the entropy code,
    so the same target picks a lower mu (more events) than in v1."""
    import soundfile as sf_

    import spikecodec
    from spikecodec.bitstream import read_spk
    from spikecodec.compress import clip_bits

    x, sr = sf_.read(str(Path(__file__).parent.parent / "examples" / "piano.flac"), dtype="float32")
    x = x[: 6 * sr]
    model = spikecodec.load_model("default", device="cpu")
    v1 = read_spk(spikecodec.encode(x, sr, model=model, target_kbps=1.5, spk_version=1))
    v2 = read_spk(spikecodec.encode(x, sr, model=model, target_kbps=1.5))
    assert v2.levels[0].mean() < v1.levels[0].mean()
    T = v2.header.frames_per_clip
    for k, _lv in enumerate(v2.levels[0]):
        zc = v2.z[0][:, k * T:(k + 1) * T]
        assert clip_bits(zc, True) == clip_bits(zc, True, 2) <= clip_bits(zc, True, 1)

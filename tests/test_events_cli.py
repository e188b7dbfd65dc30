"""The plot / edit / concat / analyze commands, registered into a click group built here."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from spikecodec.bitstream import Header, inspect_spk, read_spk, write_spk
from spikecodec.events import concat, cut
from spikecodec.events.cli import register

REPO = Path(__file__).resolve().parents[1]
HOP, MSR = 320, 16000
D = HOP / MSR


@click.group()
def group():
    """test group"""


register(group)


def run(*args):
    try:
        r = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by default
        r = CliRunner()
    return r.invoke(group, [str(a) for a in args], catch_exceptions=False)


def make(path, frames=200, units=16, channels=1, density=0.08, seed=0, model_id="ab12", levels=False):
    rng = np.random.default_rng(seed)
    h = Header(model_name="test", model_id=model_id, source_sample_rate=MSR, model_sample_rate=MSR, channels=channels,
               num_samples=frames * HOP, num_frames=frames, units=units, frames_per_clip=64, hop=HOP,
               has_levels=levels)
    z = [rng.random((units, frames)) < density for _ in range(channels)]
    lv = [np.full(h.num_clips, 3) for _ in range(channels)] if levels else None
    data = write_spk(h, z, lv)
    Path(path).write_bytes(data)
    return data


def one_error_line(r, *needles):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("spikecodec: error: "), lines[0]
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_register_adds_the_commands():
    assert {"plot", "edit", "concat", "analyze"} <= set(group.commands)


def test_edit_cut_mute_drop_thin(tmp_path):
    src = make(tmp_path / "a.spk", channels=2)
    r = run("edit", tmp_path / "a.spk", "-o", tmp_path / "b.spk", "--cut", "1:3")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "b.spk").read_bytes() == cut(src, 1, 3)
    assert inspect_spk((tmp_path / "b.spk").read_bytes()).duration_s == pytest.approx(2.0)
    # combined: times refer to the input; mute, drop, thin, then cut
    r = run("edit", tmp_path / "a.spk", "-o", tmp_path / "c.spk", "--mute", "0:1.5", "--mute", "2.5:",
            "--drop-units", "0,2-3", "--thin", "0.5", "--seed", "3", "--cut", "1:3", "-v")
    assert r.exit_code == 0, r.stderr
    assert "kbps" in r.stderr
    s = read_spk((tmp_path / "c.spk").read_bytes())
    assert s.header.num_frames == 100
    for zc in s.z:
        assert not zc[:, :25].any() and not zc[:, 75:].any() and not zc[[0, 2, 3]].any()
    r = run("edit", tmp_path / "a.spk", "-o", tmp_path / "d.spk", "--mute", ":")
    assert r.exit_code == 0
    assert all(c.payload_bits == 0 for c in inspect_spk((tmp_path / "d.spk").read_bytes()).clips)


def test_edit_errors(tmp_path):
    make(tmp_path / "a.spk")
    out = tmp_path / "b.spk"
    r = run("edit", tmp_path / "a.spk", "-o", out)
    assert r.exit_code == 2 and "nothing to do" in r.stderr
    r = run("edit", tmp_path / "a.spk", "-o", out, "--cut", "3:1")
    assert r.exit_code == 2
    r = run("edit", tmp_path / "a.spk", "-o", out, "--thin", "2")
    assert r.exit_code == 2
    r = run("edit", tmp_path / "a.spk", "-o", out, "--cut", "50:60")
    assert r.exit_code == 1
    one_error_line(r, str(tmp_path / "a.spk"), "keeps no frames")
    r = run("edit", tmp_path / "a.spk", "-o", out, "--drop-units", "99")
    assert r.exit_code == 1
    one_error_line(r, "no such unit 99")
    r = run("edit", tmp_path / "missing.spk", "-o", out, "--cut", "0:1")
    assert r.exit_code == 1
    one_error_line(r, "missing.spk")
    (tmp_path / "junk.spk").write_bytes(b"hello world, not a spk file at all")
    r = run("edit", tmp_path / "junk.spk", "-o", out, "--cut", "0:1")
    assert r.exit_code == 1
    one_error_line(r, "junk.spk", "not a .spk file")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    # never overwrite without -f; the input is never the output
    out.write_bytes(b"keep")
    r = run("edit", tmp_path / "a.spk", "-o", out, "--cut", "0:1")
    assert r.exit_code == 1 and out.read_bytes() == b"keep"
    one_error_line(r, "already exists")
    assert run("edit", tmp_path / "a.spk", "-o", out, "--cut", "0:1", "-f").exit_code == 0
    assert read_spk(out.read_bytes()).header.num_frames == 50
    r = run("edit", tmp_path / "a.spk", "-o", tmp_path / "a.spk", "--cut", "0:1", "-f")
    assert r.exit_code == 1
    one_error_line(r, "overwrite the input")


def test_concat(tmp_path):
    a = make(tmp_path / "a.spk", frames=100, seed=1)
    b = make(tmp_path / "b.spk", frames=70, seed=2)
    r = run("concat", tmp_path / "a.spk", tmp_path / "b.spk", "-o", tmp_path / "ab.spk")
    assert r.exit_code == 0, r.stderr
    ab = (tmp_path / "ab.spk").read_bytes()
    assert ab == concat(a, b)
    assert np.array_equal(read_spk(cut(ab, 100 * D, None)).z[0], read_spk(b).z[0])
    make(tmp_path / "other.spk", model_id="cd34")
    r = run("concat", tmp_path / "a.spk", tmp_path / "other.spk", "-o", tmp_path / "x.spk")
    assert r.exit_code == 1
    one_error_line(r, "other.spk", "different models", "model id")
    assert not (tmp_path / "x.spk").exists()
    r = run("concat", tmp_path / "a.spk", "-o", tmp_path / "x.spk")
    assert r.exit_code == 2


def _png_size(p):
    b = Path(p).read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", b[16:24])


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    make(tmp_path / "a.spk", channels=2)
    r = run("plot", tmp_path / "a.spk", "-o", tmp_path / "e.png", "--width", "640", "--height", "360",
            "--start", "0.5", "--end", "3")
    assert r.exit_code == 0, r.stderr
    assert _png_size(tmp_path / "e.png") == (640, 360)
    r = run("plot", tmp_path / "a.spk")  # default name: beside the input
    assert r.exit_code == 0, r.stderr
    assert _png_size(tmp_path / "a.png") == (1400, 90 + 2 * 320)
    r = run("plot", tmp_path / "a.spk")
    assert r.exit_code == 1
    one_error_line(r, "already exists")
    r = run("plot", tmp_path / "a.spk", "-o", tmp_path / "z.png", "--start", "30", "--end", "40")
    assert r.exit_code == 1
    one_error_line(r, "nothing to show")
    r = run("plot", tmp_path / "a.spk", "-o", tmp_path / "z.png", "--spectrogram", "--model",
            tmp_path / "nope.pt")
    assert r.exit_code == 1
    one_error_line(r, "--spectrogram needs model")
    assert not (tmp_path / "z.png").exists()


def test_analyze(tmp_path):
    rng = np.random.default_rng(0)
    F, units = 1500, 12
    z = rng.random((units, F)) < 0.02
    rows = []
    for p in range(55, 65):
        fr = rng.choice(np.arange(20, F - 20), size=15, replace=False)
        rows += [(f * D + 0.005, p) for f in fr]
        if p == 60:
            z[5, fr] = True
    h = Header(model_name="test", model_id="ab", source_sample_rate=MSR, model_sample_rate=MSR, channels=1,
               num_samples=F * HOP, num_frames=F, units=units, frames_per_clip=256, hop=HOP)
    (tmp_path / "f.spk").write_bytes(write_spk(h, [z]))
    csv = tmp_path / "notes.csv"
    csv.write_text("time_s,pitch,velocity\n" + "".join(f"{t:.4f},{p},90\n" for t, p in rows))
    r = run("analyze", tmp_path / "f.spk", "--onsets", csv, "-o", tmp_path / "h.png", "--csv", tmp_path / "phi.csv",
            "--shuffles", "50", "--alpha", "0.05", "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["top"][0]["unit"] == 5 and d["top"][0]["pitch"] == 60 and d["top"][0]["selective"]
    assert d["summary"]["expected_by_chance"] == pytest.approx(0.05 * units * 10)
    assert _png_size(tmp_path / "h.png")[0] > 100
    assert (tmp_path / "phi.csv").read_text().count("\n") == 1 + units * 10
    r = run("analyze", tmp_path / "f.spk", "--onsets", csv, "--shuffles", "20", "--alpha", "0.1")
    assert r.exit_code == 0 and "expected by chance" in r.stdout
    r = run("analyze", tmp_path / "f.spk", "--onsets", csv, "--shuffles", "20")  # p >= 1/21 > alpha 0.01
    assert r.exit_code == 1
    one_error_line(r, "smallest p-value")
    r = run("analyze", tmp_path / "f.spk")
    assert r.exit_code == 2
    r = run("analyze", tmp_path / "f.spk", "--onsets", tmp_path / "none.csv")
    assert r.exit_code == 1
    one_error_line(r, "none.csv")
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    r = run("analyze", tmp_path / "f.spk", "--onsets", tmp_path / "bad.csv")
    assert r.exit_code == 1
    one_error_line(r, "bad.csv", "time_s and pitch")


def test_edit_concat_analyze_never_import_torch_or_matplotlib(tmp_path):
    make(tmp_path / "a.spk")
    (tmp_path / "n.csv").write_text("time_s,pitch\n0.5,60\n1.0,62\n")
    code = f"""
import sys, click
from spikecodec.events.cli import register
g = click.group()(lambda: None)
register(g)
d = {str(tmp_path)!r}
for args in (["edit", d + "/a.spk", "-o", d + "/b.spk", "--cut", "0:1", "--thin", "0.2"],
             ["concat", d + "/a.spk", d + "/b.spk", "-o", d + "/c.spk"],
             ["analyze", d + "/a.spk", "--onsets", d + "/n.csv", "--shuffles", "10", "--json"]):
    try:
        g.main(args, standalone_mode=False)
    except SystemExit as e:
        assert not e.code, e.code
bad = [m for m in ("torch", "matplotlib") if m in sys.modules]
print("IMPORTED", bad)
"""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "IMPORTED []" in p.stdout
    assert (tmp_path / "c.spk").exists()


def test_plot_spectrogram_with_a_tiny_random_model(tmp_path):
    """The --spectrogram path end to end, with an untrained tiny checkpoint (the shipped models may not exist)."""
    pytest.importorskip("matplotlib")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from spikecodec import load_model
    from spikecodec.checkpoint import save_checkpoint
    from spikecodec.model import ModelConfig, SpikingAutoencoder

    cfg = ModelConfig(sample_rate=8000, hop=128, n_fft=256, units=8, encoder_dim=16, encoder_blocks=1,
                      decoder_dim=16, decoder_blocks=1)
    torch.manual_seed(0)
    net = SpikingAutoencoder(cfg)
    ck = tmp_path / "tiny.pt"
    save_checkpoint(str(ck), "tiny", cfg.to_dict(), net.state_dict())
    model = load_model(str(ck), device="cpu")
    F = 200
    h = Header(model_name="tiny", model_id=model.model_id, source_sample_rate=8000, model_sample_rate=8000, channels=1,
               num_samples=F * 128, num_frames=F, units=8, frames_per_clip=64, hop=128)
    z = np.random.default_rng(0).random((8, F)) < 0.1
    (tmp_path / "t.spk").write_bytes(write_spk(h, [z]))
    r = run("plot", tmp_path / "t.spk", "-o", tmp_path / "s.png", "--spectrogram", "--model", ck,
            "--width", "500", "--start", "0.5", "--end", "2.5")
    assert r.exit_code == 0, r.stderr
    assert _png_size(tmp_path / "s.png") == (500, 90 + 320 + 220)


def test_damaged_input_warns_and_edits(tmp_path):
    data = bytearray(make(tmp_path / "a.spk", frames=200, density=0.2))
    data[-3] ^= 0x10  # a payload bit of the last clip group
    (tmp_path / "d.spk").write_bytes(bytes(data))
    r = run("edit", tmp_path / "d.spk", "-o", tmp_path / "e.spk", "--cut", "0:2")
    assert r.exit_code == 0
    assert r.stderr.startswith("spikecodec: warning: ") and "damaged" in r.stderr
    assert read_spk((tmp_path / "e.spk").read_bytes()).damaged == []
    pytest.importorskip("matplotlib")
    r = run("plot", tmp_path / "d.spk", "-o", tmp_path / "d.png", "--width", "300", "--height", "200")
    assert r.exit_code == 0 and _png_size(tmp_path / "d.png") == (300, 200)

"""spikecodec.events.analyze: unit / note-onset cross-correlation, peak prominence, shuffled baseline."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from spikecodec.bitstream import Header, write_spk
from spikecodec.events import EditError, analyze, note_name, read_onsets
from spikecodec.events.analyze import WINDOW, read_midi

HOP, MSR = 320, 16000  # 20 ms frames
D = HOP / MSR
PLANT_UNIT, PLANT_PITCH = 7, 60


def synthetic(F=3000, units=24, pitches=range(52, 68), per_note=25, rate=0.02, seed=0, lag=0):
    """Random units, random onsets; unit 7 also fires ``lag`` frames before every onset of pitch 60."""
    rng = np.random.default_rng(seed)
    z = rng.random((units, F)) < rate
    onsets = []
    for p in pitches:
        fr = rng.choice(np.arange(20, F - 20), size=per_note, replace=False)
        onsets += [((f + rng.random()) * D, p) for f in fr]  # anywhere inside the frame
        if p == PLANT_PITCH:
            z[PLANT_UNIT, fr - lag] = True
    h = Header(model_name="test", model_id="ab", source_sample_rate=MSR, model_sample_rate=MSR, channels=1,
               num_samples=F * HOP, num_frames=F, units=units, frames_per_clip=256, hop=HOP)
    return write_spk(h, [z]), np.array(onsets)


def test_finds_the_planted_unit():
    data, ons = synthetic()
    r = analyze(data, ons, n_shuffles=100, seed=1, alpha=0.01)
    a = list(r.pitches).index(PLANT_PITCH)
    assert r.phi.shape == (24, 16) and r.C.shape == (24, 16, 2 * WINDOW + 1)
    i, j = np.unravel_index(np.argmax(r.phi), r.phi.shape)
    assert (i, j) == (PLANT_UNIT, a)
    assert r.phi[i, j] > 0.8
    assert r.peak_lag[i, j] == 0
    assert r.C[i, j, WINDOW] == 25  # every onset of pitch 60 has the event at lag 0
    assert r.p[i, j] == pytest.approx(1 / 101)  # no shuffle reaches it
    assert r.zscore[i, j] > 10
    assert r.selective[i, j]
    top = r.top_pairs(1)[0]
    assert (top["unit"], top["pitch"], top["note"]) == (PLANT_UNIT, PLANT_PITCH, "C4")
    # everything else is chance: the count of selective pairs is near alpha * pairs
    assert r.expected_by_chance == pytest.approx(0.01 * 24 * 16)
    assert r.n_selective <= 1 + 3 * r.expected_by_chance + 3


def test_lag_sign():
    data, ons = synthetic(lag=3)  # the unit fires 3 frames before the onsets: tau = +3
    r = analyze(data, ons, n_shuffles=20, alpha=0.05)
    a = list(r.pitches).index(PLANT_PITCH)
    assert r.peak_lag[PLANT_UNIT, a] == 3


def test_shuffled_onsets_do_not_find_it():
    data, ons = synthetic()
    # the null: the same onsets, but pitch 60's moved 500 frames away from the unit's events
    moved = ons.copy()
    m = moved[:, 1] == PLANT_PITCH
    moved[m, 0] = (moved[m, 0] + 500 * D) % (3000 * D)
    r = analyze(data, moved, n_shuffles=100, seed=1)
    a = list(r.pitches).index(PLANT_PITCH)
    assert not r.selective[PLANT_UNIT, a]
    assert r.phi[PLANT_UNIT, a] < 0.5
    # and in the true analysis, the shuffles themselves stay low for the planted pair
    r = analyze(data, ons, n_shuffles=100, seed=1)
    assert r.shuffle_mean[PLANT_UNIT, a] < 0.3


def test_unrelated_onsets_give_chance_level():
    data, _ = synthetic(seed=3)
    rng = np.random.default_rng(9)
    ons = np.c_[rng.uniform(0, 59, 400), rng.integers(50, 70, 400)]
    r = analyze(data, ons, n_shuffles=100, seed=2, alpha=0.05)
    assert r.n_selective <= 2 * r.expected_by_chance + 5


def test_seeded_and_json_csv():
    data, ons = synthetic(F=800, per_note=8)
    a = analyze(data, ons, n_shuffles=30, seed=5, alpha=0.05)
    b = analyze(data, ons, n_shuffles=30, seed=5, alpha=0.05)
    assert np.array_equal(a.p, b.p)
    d = json.loads(a.to_json())
    assert d["summary"]["pairs"] == a.n_pairs and len(d["pairs"]) == a.n_pairs
    assert d["summary"]["expected_by_chance"] == pytest.approx(a.expected_by_chance)
    lines = a.to_csv().splitlines()
    assert lines[0] == "unit,pitch,note,phi,peak_lag,p,zscore,selective,onsets,events"
    assert len(lines) == 1 + a.n_pairs
    assert "selective pairs" in a.text()


def test_frames_binning_and_dropped_onsets():
    data, _ = synthetic(F=100)
    # frame = floor(time_s * model_sr / hop): 0.0399 s -> frame 1; 5 s is past the end
    r = analyze(data, [(0.0399, 60), (0.04, 61), (5.0, 60), (-0.1, 60)], n_shuffles=0)
    assert r.onsets_dropped == 2
    assert list(r.onsets_per_note) == [1, 1]
    with pytest.raises(EditError, match="no note onset"):
        analyze(data, [(9.0, 60)], n_shuffles=0)


def test_read_onsets_csv_and_midi(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("time_s,pitch,velocity\n0.0100,70,90\n0.5,65,80\n")
    assert read_onsets(p).tolist() == [[0.01, 70], [0.5, 65]]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(EditError, match="time_s and pitch"):
        read_onsets(tmp_path / "bad.csv")
    mido = pytest.importorskip("mido")
    mf = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))  # 120 bpm: 480 ticks = 0.5 s
    tr.append(mido.Message("note_on", note=60, velocity=64, time=480))
    tr.append(mido.Message("note_on", note=60, velocity=0, time=240))
    tr.append(mido.Message("note_on", note=64, velocity=70, time=240))
    mf.save(tmp_path / "x.mid")
    assert read_midi(tmp_path / "x.mid").tolist() == [[0.5, 60], [1.0, 64]]


def test_note_names():
    assert [note_name(p) for p in (21, 45, 60, 69, 108)] == ["A0", "A2", "C4", "A4", "C8"]


def test_heatmap_png(tmp_path):
    pytest.importorskip("matplotlib")
    data, ons = synthetic(F=800, per_note=8)
    r = analyze(data, ons, n_shuffles=20, alpha=0.05)
    out = tmp_path / "h.png"
    r.heatmap(out, width=640, height=480, value="zscore")
    b = out.read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", b[16:24]) == (640, 480)

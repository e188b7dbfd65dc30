"""spikecodec.events edits: cut / mute / drop_units / thin / concat on the event matrix (no model)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikecodec.bitstream import Header, SpkFile, inspect_spk, read_spk, write_spk
from spikecodec.bitstream.bench import runs_z
from spikecodec.events import (
    EditError,
    check_compatible,
    concat,
    cut,
    cut_frames,
    drop_units,
    mute,
    parse_range,
    parse_units,
    thin,
)

HOP, MSR, SSR = 320, 16000, 44100  # one frame = 20 ms
D = HOP / MSR

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make(frames=100, units=12, channels=1, T=16, levels=False, density=0.08, seed=0, model_id="ab12",
         num_samples=None) -> bytes:
    rng = np.random.default_rng(seed)
    h = Header(model_name="test", model_id=model_id, source_sample_rate=SSR, model_sample_rate=MSR,
               channels=channels, num_samples=num_samples if num_samples is not None else int(frames * D * SSR),
               num_frames=frames, units=units, frames_per_clip=T, hop=HOP, has_levels=levels)
    z = [rng.random((units, frames)) < density for _ in range(channels)]
    lv = [rng.integers(0, 32, h.num_clips) for _ in range(channels)] if levels else None
    return write_spk(h, z, lv)


def frame_levels(s: SpkFile, c=0):
    h = s.header
    return np.repeat(s.levels[c], h.frames_per_clip)[: h.num_frames]


# --------------------------------------------------------------------------- parsing

def test_parse_range_and_units():
    assert parse_range("1.5:4") == (1.5, 4.0)
    assert parse_range(":2") == (None, 2.0)
    assert parse_range("2:") == (2.0, None)
    for bad in ("3", "a:b", "4:2", "-1:2", "2:2"):
        with pytest.raises(EditError):
            parse_range(bad)
    assert parse_units("3,5,10-12") == [3, 5, 10, 11, 12]
    assert parse_units([4, 4, 1]) == [1, 4]
    with pytest.raises(EditError, match="no such unit 12"):
        parse_units("1,12", units=12)
    for bad in ("x", "5-3", ""):
        with pytest.raises(EditError):
            parse_units(bad)


# --------------------------------------------------------------------------- cut

def test_cut_snaps_to_frames_and_updates_header():
    d = make(frames=100, channels=2)
    src = read_spk(d)
    out = read_spk(cut(d, 0.101, 0.509))  # -> frames [5, 25)
    h = out.header
    assert h.num_frames == 20
    assert h.num_samples == round(20 * D * SSR)
    for c in range(2):
        assert np.array_equal(out.z[c], src.z[c][:, 5:25])
    info = inspect_spk(cut(d, 0.101, 0.509))
    assert info.duration_s == pytest.approx(20 * D)
    # the info bit-rate is that of the new file
    assert info.bitrate_kbps == pytest.approx(info.total_bits / (20 * D) / 1000)


def test_cut_returns_the_kind_it_was_given():
    d = make()
    assert isinstance(cut(d, 0, 1), bytes)
    s = cut(read_spk(d), 0, 1)
    assert isinstance(s, SpkFile) and s.header.num_frames == 50


def test_cut_open_ends_and_clamping():
    d = make(frames=100)
    assert read_spk(cut(d, None, None)).header.num_frames == 100
    assert read_spk(cut(d, 1.0, 99.0)).header.num_frames == 50
    with pytest.raises(EditError, match="keeps no frames"):
        cut(d, 5.0, 6.0)
    with pytest.raises(EditError):
        cut_frames(d, 30, 30)


@FAST
@given(st.data())
def test_cut_of_a_cut_is_one_cut(data):
    F = data.draw(st.integers(2, 90))
    d = make(frames=F, channels=data.draw(st.integers(1, 2)), levels=data.draw(st.booleans()),
             seed=data.draw(st.integers(0, 5)), T=data.draw(st.sampled_from([4, 7, 16])))
    a = data.draw(st.integers(0, F - 1))
    b = data.draw(st.integers(a + 1, F))
    c = data.draw(st.integers(0, b - a - 1))
    e = data.draw(st.integers(c + 1, b - a))
    twice = cut(cut(d, a * D, b * D), c * D, e * D)
    once = cut(d, (a + c) * D, (a + e) * D)
    if a == 0:
        # levels follow the clip grid; an inner cut from 0 keeps the grid, so the files match byte for byte
        assert twice == once
    s2, s1 = read_spk(twice), read_spk(once)
    assert s2.header == s1.header
    for z2, z1 in zip(s2.z, s1.z):
        assert np.array_equal(z2, z1)


def test_cut_of_a_cut_is_one_cut_bytes_on_clip_grid():
    d = make(frames=100, levels=True, channels=2, T=10)
    assert cut(cut(d, 20 * D, 90 * D), 10 * D, 40 * D) == cut(d, 30 * D, 60 * D)


def test_cut_levels_majority_rule():
    T = 10
    d = make(frames=60, levels=True, T=T)
    src = read_spk(d)
    out = read_spk(cut_frames(d, 13, 60))  # new clip 0 = src frames 13..22: 7 from clip 1, 3 from clip 2
    assert out.levels[0][0] == src.levels[0][1]
    assert out.levels[0][1] == src.levels[0][2]  # 23..32: 7 from clip 2
    out = read_spk(cut_frames(d, 15, 60))  # 15..24: a 5/5 tie -> the earlier clip (1)
    assert out.levels[0][0] == src.levels[0][1]
    # a cut on the clip grid keeps every level
    out = read_spk(cut_frames(d, 20, 50))
    assert np.array_equal(out.levels[0], src.levels[0][2:5])


# --------------------------------------------------------------------------- mute / drop / thin

def test_mute_everything_costs_zero_payload_bits():
    d = make(frames=100, channels=2, density=0.3)
    out = mute(d)
    info = inspect_spk(out)
    assert all(c.events == 0 and c.payload_bits == 0 and c.layout == "coo" for c in info.clips)
    s = read_spk(out)
    assert not any(zc.any() for zc in s.z)
    assert s.header == read_spk(d).header
    assert len(out) < len(d)


@FAST
@given(st.data())
def test_mute_removes_exactly_the_range(data):
    F = data.draw(st.integers(1, 80))
    d = make(frames=F, channels=2, density=0.2, levels=True, seed=data.draw(st.integers(0, 3)))
    a = data.draw(st.integers(0, F))
    b = data.draw(st.integers(a, F))
    src, out = read_spk(d), read_spk(mute(d, a * D, b * D))
    for zs, zo in zip(src.z, out.z):
        assert not zo[:, a:b].any()
        assert np.array_equal(zo[:, :a], zs[:, :a]) and np.array_equal(zo[:, b:], zs[:, b:])
    assert all(np.array_equal(x, y) for x, y in zip(src.levels, out.levels))
    assert out.header == src.header


def test_mute_one_channel():
    d = make(frames=40, channels=2, density=0.3)
    src, out = read_spk(d), read_spk(mute(d, None, None, channels=[1]))
    assert np.array_equal(out.z[0], src.z[0]) and not out.z[1].any()


def test_drop_units():
    d = make(frames=50, units=16, density=0.3)
    src, out = read_spk(d), read_spk(drop_units(d, "0,3-5"))
    assert not out.z[0][[0, 3, 4, 5]].any()
    keep = [u for u in range(16) if u not in (0, 3, 4, 5)]
    assert np.array_equal(out.z[0][keep], src.z[0][keep])
    with pytest.raises(EditError):
        drop_units(d, [16])


def test_thin_is_seeded_and_exact():
    d = make(frames=200, channels=2, density=0.2)
    src = read_spk(d)
    total = sum(int(z.sum()) for z in src.z)
    a, b, c = thin(d, 0.25, seed=1), thin(d, 0.25, seed=1), thin(d, 0.25, seed=2)
    assert a == b and a != c
    s = read_spk(a)
    assert sum(int(z.sum()) for z in s.z) == total - round(0.25 * total)
    for zs, zo in zip(src.z, s.z):
        assert not (zo & ~zs).any()  # only removes
    assert thin(d, 0.0) == d
    assert not any(z.any() for z in read_spk(thin(d, 1.0)).z)
    assert len(a) < len(d)
    with pytest.raises(EditError):
        thin(d, 1.5)


# --------------------------------------------------------------------------- concat

@FAST
@given(st.data())
def test_concat_then_cut_gives_back_the_originals(data):
    levels = data.draw(st.booleans())
    T = data.draw(st.sampled_from([5, 16]))
    Fa, Fb = data.draw(st.integers(1, 60)), data.draw(st.integers(1, 60))
    a = make(frames=Fa, channels=2, levels=levels, T=T, seed=1)
    b = make(frames=Fb, channels=2, levels=levels, T=T, seed=2)
    ab = concat(a, b)
    s = read_spk(ab)
    assert s.header.num_frames == Fa + Fb
    assert s.header.num_samples == read_spk(a).header.num_samples + read_spk(b).header.num_samples
    ca, cb = read_spk(cut(ab, 0, Fa * D)), read_spk(cut(ab, Fa * D, None))
    sa, sb = read_spk(a), read_spk(b)
    for c in range(2):
        assert np.array_equal(ca.z[c], sa.z[c])
        assert np.array_equal(cb.z[c], sb.z[c])
    if levels and Fa % T == 0:  # b starts on the clip grid: every level survives both ways
        assert a == cut(ab, 0, Fa * D)
        assert np.array_equal(cb.levels[0], sb.levels[0])


def test_concat_levels_majority_and_padding_samples():
    T = 10
    a = make(frames=14, levels=True, T=T, seed=1, num_samples=int(13.5 * D * SSR))
    b = make(frames=20, levels=True, T=T, seed=2)
    sa, sb = read_spk(a), read_spk(b)
    s = read_spk(concat(a, b))
    # a's padding stays (b starts at frame 14), so a counts whole frames
    assert s.header.num_samples == round(14 * D * SSR) + sb.header.num_samples
    # new clip 1 = frames 10..19 = a clip 1 (4 frames) + b clip 0 (6 frames) -> b's clip 0 level
    assert s.levels[0][1] == sb.levels[0][0]
    assert s.levels[0][0] == sa.levels[0][0]
    assert s.levels[0][2] == sb.levels[0][1]  # 20..29 = b frames 6..15: 4 of clip 0, 6 of clip 1


def test_concat_three_and_spkfile():
    a, b, c = make(frames=10, seed=1), make(frames=7, seed=2), make(frames=3, seed=3)
    s = concat(read_spk(a), b, c)
    assert isinstance(s, SpkFile) and s.header.num_frames == 20


@pytest.mark.parametrize("field,value", [
    ("model_id", "cd34"), ("units", 13), ("hop", 160), ("model_sample_rate", 8000),
    ("source_sample_rate", 48000), ("channels", 2), ("has_levels", True)])
def test_concat_refuses_other_models(field, value):
    a = read_spk(make())
    h = dataclasses.replace(a.header, **{field: value})
    with pytest.raises(EditError, match="different models" if field == "model_id" else field.replace("_", " ")) as e:
        check_compatible(a.header, h)
    if field != "model_id":  # same model: the message says what really differs, not "different models"
        assert "different models" not in str(e.value)
    assert "\n" not in str(e.value)
    if field == "model_id":
        with pytest.raises(EditError, match="model id"):
            concat(a, make(model_id="cd34"))


_runs = runs_z


def test_edits_repack_in_the_input_version_with_the_cheapest_layouts():
    """A v2 input is re-packed as v2 (ctx clips where cheaper), a v1 input stays v1; concat of v1 and v2 is v2."""
    rng = np.random.default_rng(4)
    h = Header(model_name="m", model_id="ab12", source_sample_rate=22050, model_sample_rate=22050, channels=1,
               num_samples=300 * 512, num_frames=300, units=40, frames_per_clip=128, hop=512)
    z = [_runs(rng, 40, 300)]
    v1, v2 = write_spk(h, z, version=1), write_spk(h, z, version=2)
    for data, version in ((v1, 1), (v2, 2)):
        out = cut(data, 0.5, 5.0)
        assert out[4] == version
        layouts = {c.layout for c in inspect_spk(out).clips}
        assert ("ctx" in layouts) == (version == 2)
        s = read_spk(out)
        assert out == write_spk(s.header, s.z, s.levels, version=version)  # canonical: cheapest layouts
    joined = concat(v1, v2)
    assert joined[4] == 2
    assert np.array_equal(read_spk(joined).z[0], np.concatenate([z[0], z[0]], axis=1))

"""The .spk container: whole-file round trips, header checks, damage reports."""

import dataclasses
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikecodec.bitstream import (
    CTX,
    LAYOUTS,
    LAYOUTS_V2,
    record_bits,
    Header,
    SpkFormatError,
    SpkWriter,
    choose_layout,
    clip_header_bits,
    inspect_spk,
    layout_costs,
    read_spk,
    write_spk,
)
from spikecodec.bitstream import container as ctr

GH = ctr.GROUP_HEADER_BYTES


def make(channels=1, units=6, frames=37, T=10, K=1, levels=False, density=0.2, seed=0, version=2, **kw):
    rng = np.random.default_rng(seed)
    h = Header(model_name=kw.pop("model_name", "sparse"), model_id=kw.pop("model_id", "0123abcd"),
               source_sample_rate=kw.pop("source_sample_rate", 44100), model_sample_rate=22050,
               channels=channels, num_samples=kw.pop("num_samples", frames * 1024), num_frames=frames,
               units=units, frames_per_clip=T, hop=512, has_levels=levels, clips_per_group=K, **kw)
    z = [rng.random((units, frames)) < density for _ in range(channels)]
    lv = [rng.integers(0, 32, h.num_clips) for _ in range(channels)] if levels else None
    return h, z, lv, write_spk(h, z, lv, version=version)


def markov(rng, units, frames, density):
    """Events with the temporal structure of real z: per unit a rate, runs of a few frames."""
    rate = rng.random(units) * 2 * density
    stay = 0.5 + 0.45 * rng.random(units)
    z = np.zeros((units, frames), bool)
    on = rng.random(units) < rate
    for t in range(frames):
        on = np.where(on, rng.random(units) < stay, rng.random(units) < rate * (1 - stay) / np.maximum(1e-9, 1 - rate))
        z[:, t] = on
    return z


def group_offsets(data):
    """(start, end) byte ranges of each group (header included) of an undamaged file."""
    hlen = struct.unpack_from(">H", data, 5)[0]
    out, pos = [], hlen
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos + 6)[0]
        out.append((pos, pos + GH + length))
        pos += GH + length
    return out


@st.composite
def files(draw):
    C = draw(st.integers(1, 3))
    N = draw(st.integers(1, 24))
    T = draw(st.integers(1, 160))
    frames = draw(st.integers(0, 3 * T + T - 1))
    K = draw(st.integers(1, 4))
    levels = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    z = []
    for _ in range(C):
        p = draw(st.sampled_from([0.0, 0.01, 0.1, 0.4, 0.9, 1.0, "markov"]))
        z.append(markov(rng, N, frames, 0.1) if p == "markov" else rng.random((N, frames)) < p)
    h = Header(model_name=draw(st.text(max_size=12)), model_id=draw(st.text("0123456789abcdef", max_size=64)),
               source_sample_rate=draw(st.sampled_from([8000, 22050, 44100, 48000])), model_sample_rate=22050,
               channels=C, num_samples=draw(st.integers(0, 2**40)), num_frames=frames, units=N,
               frames_per_clip=T, hop=draw(st.integers(1, 1024)), has_levels=levels, clips_per_group=K)
    lv = [rng.integers(0, 32, h.num_clips) for _ in range(C)] if levels else None
    return h, z, lv


@settings(max_examples=120, deadline=None)
@given(files(), st.sampled_from([1, 2]))
def test_whole_file_round_trip(f, version):
    h, z, lv = f
    data = write_spk(h, z, lv, version=version)
    out = read_spk(data)
    assert data[4] == version
    assert out.header == dataclasses.replace(h, format_version=version)
    assert out.damaged == []
    for a, b in zip(out.z, z):
        assert a.dtype == bool and a.shape == (h.units, h.num_frames)
        assert np.array_equal(a, b)
    if lv is None:
        assert out.levels is None
    else:
        for a, b in zip(out.levels, lv):
            assert np.array_equal(a, b)
    info = inspect_spk(data)
    assert info.total_bits == 8 * len(data)
    assert sum(info.bits_by_part.values()) == info.total_bits
    assert info.bits_by_part["damaged"] == 0
    assert 0 <= info.bits_by_part["padding"] < 8 * h.num_groups or h.num_groups == 0
    assert len(info.clips) == h.num_clips * h.channels
    T = h.frames_per_clip
    for ci in info.clips:
        zc = z[ci.channel][:, ci.index * T:(ci.index + 1) * T]
        assert ci.frames == zc.shape[1]
        assert ci.events == int(zc.sum())
        best_v1 = min(layout_costs(ci.events, h.units, ci.frames).values())
        if ci.layout == CTX:  # only in v2, and only when strictly cheaper than every v1 layout
            assert version == 2 and ci.payload_bits < best_v1
        else:
            assert ci.layout == choose_layout(ci.events, h.units, ci.frames)
            assert ci.payload_bits == best_v1
        assert ci.header_bits == clip_header_bits(h.units, ci.frames, h.has_levels, version)
        assert ci.header_bits + ci.payload_bits == record_bits(zc, h.has_levels, version)  # compress.clip_bits
        assert ci.level == (None if lv is None else int(lv[ci.channel][ci.index]))
    assert set(info.bits_by_layout) == set(LAYOUTS if version == 1 else LAYOUTS_V2)
    assert info.bits_by_part["payload"] == sum(ci.payload_bits for ci in info.clips)
    assert info.bits_by_part["clip_headers"] == sum(ci.header_bits for ci in info.clips)
    assert sum(info.bits_by_layout.values()) == info.bits_by_part["payload"] + info.bits_by_part["clip_headers"]
    # byte-exact: a file is a function of (header, z, levels, version)
    assert write_spk(out.header, out.z, out.levels, version=version) == data
    if version == 2:  # v2 never costs more than v1, clip by clip
        v1 = inspect_spk(write_spk(h, z, lv, version=1))
        for a, b in zip(info.clips, v1.clips):
            assert a.payload_bits <= b.payload_bits and a.header_bits == b.header_bits + 1  # 3-bit tag


@pytest.mark.parametrize("version", [1, 2])
def test_streaming_writer_matches_write_spk(version):
    h, z, lv, data = make(channels=2, frames=53, T=8, K=3, levels=True, version=version)
    buf = io.BytesIO()
    w = SpkWriter(buf, h, version)
    for k in range(h.num_clips):
        w.write_clip([zc[:, k * 8:(k + 1) * 8] for zc in z], [int(l[k]) for l in lv])
    w.close()
    assert buf.getvalue() == data


def test_header_fields_and_to_dict():
    h, z, lv, data = make(channels=2, frames=40, T=16, levels=True, model_name="mu",
                          model_id="deadbeef" * 8, num_samples=123456)
    out = read_spk(data)
    assert out.header.format_version == 2 and out.header.model_id == "deadbeef" * 8
    d = out.info.to_dict("song.spk")
    assert list(d) == ["path", "format_version", "model", "model_id", "source_sample_rate", "model_sample_rate",
                       "channels", "num_samples", "duration_s", "units", "frames_per_clip", "hop", "total_bits",
                       "bitrate_kbps", "clips"]
    assert d["path"] == "song.spk" and d["model"] == "mu" and d["channels"] == 2
    assert d["duration_s"] == pytest.approx(123456 / 44100)
    assert d["total_bits"] == 8 * len(data)
    assert d["bitrate_kbps"] == pytest.approx(8 * len(data) / (123456 / 44100) / 1000)
    assert len(d["clips"]) == 2 * 3
    assert set(d["clips"][0]) == {"channel", "index", "frames", "events", "layout", "level", "payload_bits",
                                  "header_bits"}
    assert [c["frames"] for c in d["clips"]] == [16, 16, 16, 16, 8, 8]


def test_empty_file_zero_frames():
    h, z, lv, data = make(frames=0)
    out = read_spk(data)
    assert out.z[0].shape == (6, 0) and out.damaged == []


def resign_header(data, mutate):
    """Apply mutate(bytearray header) and recompute the header CRC."""
    hlen = struct.unpack_from(">H", data, 5)[0]
    b = bytearray(data)
    mutate(b)
    b[hlen - 4:hlen] = struct.pack(">I", zlib.crc32(bytes(b[:hlen - 4])))
    return bytes(b)


def test_future_version_is_named():
    _, _, _, data = make()
    v3 = resign_header(data, lambda b: b.__setitem__(4, 3))
    with pytest.raises(SpkFormatError, match="version 3; this reader supports versions 1 and 2"):
        read_spk(v3)
    with pytest.raises(SpkFormatError, match="version 3"):
        inspect_spk(v3)


def test_v1_option_writes_the_paper_container_and_v2_is_smaller():
    rng = np.random.default_rng(5)
    h = Header(model_name="mu", model_id="ab", source_sample_rate=22050, model_sample_rate=22050, channels=2,
               num_samples=700 * 512, num_frames=700, units=80, frames_per_clip=256, hop=512, has_levels=True)
    z = [markov(rng, 80, 700, 0.1) for _ in range(2)]
    lv = [np.array([13, 13, 14]), np.array([13, 12, 13])]
    v1, v2 = write_spk(h, z, lv, version=1), write_spk(h, z, lv)
    assert v1[4] == 1 and v2[4] == 2
    assert {c.layout for c in inspect_spk(v1).clips} <= set(LAYOUTS)
    assert {c.layout for c in inspect_spk(v2).clips} == {CTX}
    assert len(v2) < 0.6 * len(v1)
    for data in (v1, v2):  # the same z and levels either way
        out = read_spk(data)
        assert all(np.array_equal(a, b) for a, b in zip(out.z, z))
        assert all(np.array_equal(a, b) for a, b in zip(out.levels, lv))
    with pytest.raises(ValueError):
        write_spk(h, z, lv, version=3)


def test_header_damage_raises():
    _, _, _, data = make()
    hlen = struct.unpack_from(">H", data, 5)[0]
    for i in range(hlen):
        b = bytearray(data)
        b[i] ^= 0x10
        with pytest.raises(SpkFormatError):
            read_spk(bytes(b))
    with pytest.raises(SpkFormatError, match="magic"):
        read_spk(b"RIFF" + data[4:])
    with pytest.raises(SpkFormatError):
        read_spk(b"")


def test_hostile_header_sizes_rejected_before_allocation():
    _, _, _, data = make()
    big = resign_header(data, lambda b: b.__setitem__(slice(34, 42), struct.pack(">Q", 2**40)))
    with pytest.raises(SpkFormatError, match="at least"):
        read_spk(big)
    huge = resign_header(data, lambda b: b.__setitem__(slice(34, 42), struct.pack(">Q", 2**60)))
    with pytest.raises(SpkFormatError):
        read_spk(huge)
    wide = resign_header(data, lambda b: b.__setitem__(slice(10, 14), struct.pack(">HH", 65535, 65535)))
    with pytest.raises(SpkFormatError):
        read_spk(wide)
    zero = resign_header(data, lambda b: b.__setitem__(8, 0))  # channels = 0
    with pytest.raises(SpkFormatError, match="channels"):
        read_spk(zero)
    flags = resign_header(data, lambda b: b.__setitem__(7, 0x80))
    with pytest.raises(SpkFormatError, match="reserved"):
        read_spk(flags)


def test_max_cells_limit():
    h, z, lv, data = make(frames=37)
    with pytest.raises(SpkFormatError, match="limit"):
        read_spk(data, max_cells=100)
    assert inspect_spk(data).damaged == []


@pytest.mark.parametrize("K", [1, 2])
def test_payload_bit_flip_costs_one_group(K):
    h, z, lv, data = make(channels=2, frames=57, T=8, K=K, levels=True, density=0.3)
    groups = group_offsets(data)
    assert len(groups) == h.num_groups
    for g, (s, e) in enumerate(groups):
        for pos in (s + GH, (s + GH + e) // 2, e - 1):
            b = bytearray(data)
            b[pos] ^= 0x01
            out = read_spk(bytes(b))
            lost = {(c, k) for c, k, _, _ in out.damaged}
            ks = range(g * K, min((g + 1) * K, h.num_clips))
            assert lost == {(c, k) for k in ks for c in range(2)}
            for _c, k, s_, e_ in out.damaged:
                assert s_ == pytest.approx(k * 8 * 512 / 22050)
                assert e_ == pytest.approx(min((k + 1) * 8, 57) * 512 / 22050)
            first_good = lv[0][0] if g != 0 else lv[0][K]
            for c in range(2):
                for k in range(h.num_clips):
                    sl = slice(k * 8, (k + 1) * 8)
                    if k in ks:
                        assert not out.z[c][:, sl].any()
                        assert out.levels[c][k] == first_good
                    else:
                        assert np.array_equal(out.z[c][:, sl], z[c][:, sl])
                        assert out.levels[c][k] == lv[c][k]


def test_group_header_flip_resyncs():
    h, z, lv, data = make(frames=80, T=8)
    groups = group_offsets(data)
    for g, (s, _e) in enumerate(groups):
        for pos in range(s, s + GH):
            b = bytearray(data)
            b[pos] ^= 0x40
            out = read_spk(bytes(b))
            assert [k for _, k, _, _ in out.damaged] == [g]
            others = [k for k in range(h.num_clips) if k != g]
            for k in others:
                assert np.array_equal(out.z[0][:, k * 8:(k + 1) * 8], z[0][:, k * 8:(k + 1) * 8])


def test_truncated_tail_reported():
    h, z, lv, data = make(units=24, frames=320, T=32, density=0.5)
    groups = group_offsets(data)
    cut = groups[-3][0] + 5  # inside the third-to-last group's header
    out = read_spk(data[:cut])
    assert [k for _, k, _, _ in out.damaged] == [7, 8, 9]
    assert np.array_equal(out.z[0][:, :224], z[0][:, :224])
    # a cut so deep that even empty clips could not fill the rest is an error
    with pytest.raises(SpkFormatError, match="truncated"):
        read_spk(data[:groups[1][0]])
    info = inspect_spk(data[:cut])
    assert sum(info.bits_by_part.values()) == info.total_bits == 8 * cut


def test_all_clips_lost_raises():
    h, z, lv, data = make(frames=16, T=8, density=0.5)
    groups = group_offsets(data)
    b = bytearray(data)
    for s, _e in groups:
        b[s + GH] ^= 0xFF
    with pytest.raises(SpkFormatError, match="all"):
        read_spk(bytes(b))


def test_trailing_garbage_is_accounted_not_decoded():
    h, z, lv, data = make()
    out = read_spk(data + b"\x00garbage")
    assert out.damaged == [] and np.array_equal(out.z[0], z[0])
    assert out.info.bits_by_part["damaged"] == 8 * 8


def test_non_cheapest_layout_in_a_file_is_rejected():
    # A group whose CRC checks but whose clip is not in its cheapest layout
    from spikecodec.bitstream import encode_clip
    h, z, lv, data = make(frames=10, T=10, density=0.0, version=1)  # one clip, empty -> coo
    hlen = struct.unpack_from(">H", data, 5)[0]
    rec = encode_clip(np.zeros((6, 10), bool), None, "time")  # 0 bits of payload too, but tag 2
    payload = rec.tobytes()
    head = ctr._GROUP.pack(ctr.GROUP_SYNC, 0, len(payload), zlib.crc32(payload))
    forged = data[:hlen] + head + struct.pack(">H", ctr._crc16(head)) + payload
    with pytest.raises(SpkFormatError, match="all"):
        read_spk(forged)


@pytest.mark.parametrize("layout", ["time", CTX])
def test_non_cheapest_layout_in_a_v2_file_is_rejected(layout):
    """v2: a v1 layout that is not the cheapest v1 layout, or a ctx record that is not strictly cheaper than
    every v1 layout, is not canonical: the group is lost."""
    from spikecodec.bitstream import encode_clip
    h, z, lv, data = make(frames=10, T=10, density=0.0)  # one clip, empty -> coo
    hlen = struct.unpack_from(">H", data, 5)[0]
    rec = encode_clip(np.zeros((6, 10), bool), None, layout, version=2)
    payload = rec.tobytes()
    head = ctr._GROUP.pack(ctr.GROUP_SYNC, 0, len(payload), zlib.crc32(payload))
    forged = data[:hlen] + head + struct.pack(">H", ctr._crc16(head)) + payload
    with pytest.raises(SpkFormatError, match="all"):
        read_spk(forged)


def test_writer_validation():
    h, z, lv, data = make()
    with pytest.raises(ValueError):
        write_spk(h, z + z, lv)
    with pytest.raises(ValueError):
        write_spk(h, [z[0][:, :-1]])
    with pytest.raises(ValueError):
        write_spk(h, z, [np.zeros(4, int)])  # levels without has_levels
    import dataclasses
    for bad in (dict(channels=0), dict(channels=256), dict(units=0), dict(frames_per_clip=0),
                dict(model_id="xyz"), dict(model_name="x" * 256), dict(clips_per_group=0),
                dict(units=5000, frames_per_clip=5000)):
        with pytest.raises(ValueError):
            write_spk(dataclasses.replace(h, **bad), z)
    hl = dataclasses.replace(h, has_levels=True)
    with pytest.raises(ValueError):
        write_spk(hl, z, [np.full(4, 32)])
    with pytest.raises(ValueError):
        write_spk(hl, z, None)


def test_bench_smoke():
    from spikecodec.bitstream.bench import bench
    rows = bench(seconds=5, densities=(0.05, 0.5), repeat=1)
    assert len(rows) == 4 and [r["version"] for r in rows] == [1, 2, 1, 2]
    for r in rows:
        assert r["pack_mb_s"] > 0 and r["unpack_x_realtime"] > 0
    assert LAYOUTS  # imported for completeness

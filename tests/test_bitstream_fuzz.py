"""Fuzzing the .spk reader: random bytes, every truncation, bit flips.

Only SpkFormatError may escape; a damaged file never decodes silently; a bit
flip inside a clip group costs that group only.  v1 files (the paper's four
layouts) and v2 files whose clips are entropy-coded (ctx) alike.
"""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikecodec.bitstream import Header, SpkFormatError, inspect_spk, read_spk, write_spk
from spikecodec.bitstream import container as ctr
from spikecodec.bitstream.bench import runs_z

GH = ctr.GROUP_HEADER_BYTES


runs = runs_z   # events in runs, like real z: what the ctx layout is for


def small_file(channels=2, units=5, frames=30, T=8, K=1, levels=True, density=0.25, seed=7, version=1,
               structured=False):
    rng = np.random.default_rng(seed)
    h = Header(model_name="sparse", model_id="c0ffee", source_sample_rate=44100, model_sample_rate=22050,
               channels=channels, num_samples=frames * 1024, num_frames=frames, units=units,
               frames_per_clip=T, hop=512, has_levels=levels, clips_per_group=K)
    z = [runs(rng, units, frames, density) if structured else rng.random((units, frames)) < density
         for _ in range(channels)]
    lv = [rng.integers(0, 32, h.num_clips) for _ in range(channels)] if levels else None
    return h, z, lv, write_spk(h, z, lv, version=version)


SMALL = small_file()
MONO = small_file(channels=1, units=7, frames=41, T=10, K=2, levels=False, density=0.15, seed=3)
# v2, most clips entropy-coded (ctx): 2 channels x 3 clips of 70 frames (last 10), 2 clips per group
CTXF = small_file(channels=2, units=16, frames=150, T=70, K=2, levels=True, density=0.1, seed=11, version=2,
                  structured=True)
ALL = [SMALL, MONO, CTXF]
IDS = ["stereo", "mono", "v2-ctx"]


def test_v2_fixture_uses_ctx():
    layouts = [c.layout for c in inspect_spk(CTXF[3]).clips]
    assert CTXF[3][4] == 2 and layouts.count("ctx") >= 4, layouts


def group_of_byte(data, pos):
    hlen = struct.unpack_from(">H", data, 5)[0]
    if pos < hlen:
        return None
    p, g = hlen, 0
    while True:
        end = p + GH + struct.unpack_from(">I", data, p + 6)[0]
        if pos < end:
            return g
        p, g = end, g + 1


def read_or_error(data):
    """read_spk and inspect_spk: a result, or None for SpkFormatError. Anything else fails."""
    try:
        out = read_spk(data)
    except SpkFormatError:
        with pytest.raises(SpkFormatError):
            inspect_spk(data)
        return None
    info = inspect_spk(data)
    assert info.damaged == out.damaged
    assert sum(info.bits_by_part.values()) == info.total_bits == 8 * len(data)
    return out


def assert_good_clips_exact(out, h, z, lv):
    lost = {(c, k) for c, k, _, _ in out.damaged}
    T = h.frames_per_clip
    for c in range(h.channels):
        for k in range(h.num_clips):
            if (c, k) in lost:
                continue
            sl = slice(k * T, (k + 1) * T)
            assert np.array_equal(out.z[c][:, sl], z[c][:, sl]), (c, k)
            if lv is not None:
                assert out.levels[c][k] == lv[c][k]


@pytest.mark.parametrize("f", ALL, ids=IDS)
def test_every_truncation(f):
    h, z, lv, data = f
    for cut in range(len(data)):
        out = read_or_error(data[:cut])
        if out is not None:  # partial decode: the missing tail must be reported
            assert out.damaged, cut
            assert_good_clips_exact(out, h, z, lv)


@pytest.mark.parametrize("f", ALL, ids=IDS)
def test_every_single_bit_flip_is_detected_and_localized(f):
    h, z, lv, data = f
    K = h.clips_per_group
    for i in range(8 * len(data)):
        b = bytearray(data)
        b[i // 8] ^= 0x80 >> (i % 8)
        g = group_of_byte(data, i // 8)
        if g is None:  # file header: own CRC
            with pytest.raises(SpkFormatError):
                read_spk(bytes(b))
            continue
        out = read_or_error(bytes(b))
        assert out is not None, i
        ks = range(g * K, min((g + 1) * K, h.num_clips))
        assert {(c, k) for c, k, _, _ in out.damaged} == {(c, k) for k in ks for c in range(h.channels)}, i
        assert_good_clips_exact(out, h, z, lv)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(0, 1, exclude_max=True), min_size=2, max_size=12), st.sampled_from([0, 2]))
def test_multiple_bit_flips(where, which):
    h, z, lv, data = ALL[which]
    positions = [int(x * 8 * len(data)) for x in where]
    b = bytearray(data)
    for i in positions:
        b[i // 8] ^= 0x80 >> (i % 8)
    out = read_or_error(bytes(b))
    if out is not None:
        if bytes(b) != data:
            # every flipped group is reported (flips can cancel out in pairs)
            hit = {group_of_byte(data, i // 8) for i in positions}
            lost_groups = {k // h.clips_per_group for _, k, _, _ in out.damaged}
            changed = {group_of_byte(data, j) for j in range(len(data)) if b[j] != data[j]}
            assert changed <= hit and changed <= lost_groups
        assert_good_clips_exact(out, h, z, lv)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(blob):
    read_or_error(blob)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["magic", "header"]))
def test_random_bytes_after_a_valid_prefix(blob, prefix):
    data = SMALL[3]
    hlen = struct.unpack_from(">H", data, 5)[0]
    head = ctr.MAGIC if prefix == "magic" else data[:hlen]
    out = read_or_error(head + blob)
    if out is not None:
        assert out.damaged or len(out.info.clips) == SMALL[0].num_clips * SMALL[0].channels


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60), st.sampled_from([0, 2]))
def test_random_byte_splices(seed, n, which):
    """Overwrite / insert / delete random spans: localized damage or SpkFormatError."""
    h, z, lv, data = ALL[which]
    rng = np.random.default_rng(seed)
    b = bytearray(data)
    op = seed % 3
    at = int(rng.integers(0, len(b)))
    junk = bytes(rng.integers(0, 256, n, dtype=np.uint8))
    if op == 0:
        b[at:at + n] = junk[: len(b[at:at + n])]
    elif op == 1:
        b[at:at] = junk
    else:
        del b[at:at + n]
    out = read_or_error(bytes(b))
    if out is not None:
        assert_good_clips_exact(out, h, z, lv)
        if bytes(b) != data:
            assert out.damaged or len(b) > len(data)


def test_many_sync_words_do_not_hang():
    data = SMALL[3]
    hlen = struct.unpack_from(">H", data, 5)[0]
    hostile = data[:hlen] + ctr.GROUP_SYNC * 200_000
    import time
    t0 = time.perf_counter()
    with pytest.raises(SpkFormatError):
        read_spk(hostile)
    assert time.perf_counter() - t0 < 10


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 65535),
       st.integers(0, 65535), st.integers(0, 2**64 - 1), st.integers(0, 4), st.binary(max_size=200))
def test_hostile_header_fields_with_valid_crc(flags, channels, K, N, T, frames, tail_groups, tail):
    """A forged header (correct CRC, any field values) followed by junk or real groups."""
    h, z, lv, data = SMALL
    hlen = struct.unpack_from(">H", data, 5)[0]
    b = bytearray(data[:hlen])
    b[7], b[8], b[9] = flags, channels, K
    b[10:14] = struct.pack(">HH", N, T)
    b[34:42] = struct.pack(">Q", frames)
    b[hlen - 4:hlen] = struct.pack(">I", ctr._crc32(bytes(b[:hlen - 4])))
    body = data[hlen:][: tail_groups * 40] + tail
    import time
    t0 = time.perf_counter()
    read_or_error(bytes(b) + body)
    assert time.perf_counter() - t0 < 2


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 2))
def test_forged_ctx_payloads_with_valid_crcs(seed, mode):
    """A ctx group whose payload is rewritten behind a recomputed CRC (so only the record checks and the range
    decoder stand guard): SpkFormatError or that group lost, every other group exact, never a hang, never
    another exception (constriction's own errors on invalid codes included)."""
    import time

    h, z, lv, data = CTXF
    hlen = struct.unpack_from(">H", data, 5)[0]
    starts = []
    p = hlen
    while p < len(data):
        starts.append(p)
        p += GH + struct.unpack_from(">I", data, p + 6)[0]
    rng = np.random.default_rng(seed)
    g = int(rng.integers(0, len(starts)))
    p = starts[g]
    length = struct.unpack_from(">I", data, p + 6)[0]
    payload = bytearray(data[p + GH:p + GH + length])
    if mode == 0:    # random words after the first record's header
        for i in range(4, len(payload)):
            payload[i] = int(rng.integers(0, 256))
    elif mode == 1:  # a few flipped bits
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(0, 8 * len(payload)))
            payload[i // 8] ^= 0x80 >> (i % 8)
    else:            # all random
        payload = bytearray(rng.integers(0, 256, len(payload), dtype=np.uint8).tobytes())
    payload = bytes(payload)
    head = ctr._GROUP.pack(ctr.GROUP_SYNC, g, len(payload), ctr._crc32(payload))
    forged = data[:p] + head + struct.pack(">H", ctr._crc16(head)) + payload + data[p + GH + length:]
    t0 = time.perf_counter()
    out = read_or_error(forged)
    assert time.perf_counter() - t0 < 2
    if out is not None:
        K = h.clips_per_group
        lost = {k // K for _, k, _, _ in out.damaged}
        assert lost <= {g}
        if lost:
            assert_good_clips_exact(out, h, z, lv)
        else:  # the forged payload happened to be a canonical group: it decodes to something of the right shape
            assert all(zc.shape == (h.units, h.num_frames) for zc in out.z)

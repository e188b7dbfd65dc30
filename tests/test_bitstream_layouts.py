"""Clip layouts: exact bit costs, forced-layout round trips, the paper's example."""

import math

import numpy as np
import pytest
from bitarray import bitarray
from hypothesis import given, settings
from hypothesis import strategies as st

from spikecodec.bitstream import (
    CTX,
    LAYOUTS,
    LAYOUTS_V2,
    record_bits,
    SpkFormatError,
    bit_width,
    choose_layout,
    clip_header_bits,
    decode_clip,
    encode_clip,
    layout_costs,
)


def ceil_log2(x):
    return 0 if x <= 1 else math.ceil(math.log2(x))


@st.composite
def clips(draw, max_n=128, max_t=512):
    N = draw(st.integers(1, max_n))
    T = draw(st.integers(1, max_t))
    kind = draw(st.sampled_from(["empty", "full", "one", "few", "sparse", "mid", "dense", "almost_full", "markov",
                                 "markov_dense"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "empty":
        z = np.zeros((N, T), bool)
    elif kind == "full":
        z = np.ones((N, T), bool)
    elif kind == "one":
        z = np.zeros((N, T), bool)
        z[rng.integers(N), rng.integers(T)] = True
    elif kind == "few":
        z = np.zeros((N, T), bool)
        k = int(rng.integers(0, min(N * T, 8) + 1))
        z.flat[rng.choice(N * T, k, replace=False)] = True
    elif kind == "almost_full":
        z = rng.random((N, T)) < 0.995
    elif kind.startswith("markov"):  # the structure of real z: per-unit rates, runs of several frames
        rate = rng.random(N) * (0.8 if kind == "markov_dense" else 0.2)
        stay = 0.5 + 0.45 * rng.random(N)
        up = rate * (1 - stay) / np.maximum(1e-9, 1 - rate)
        z = np.zeros((N, T), bool)
        on = rng.random(N) < rate
        for t in range(T):
            on = np.where(on, rng.random(N) < stay, rng.random(N) < up)
            z[:, t] = on
    else:
        p = {"sparse": 0.02, "mid": 0.15, "dense": 0.6}[kind]
        z = rng.random((N, T)) < p
    return z


def test_bit_width():
    assert [bit_width(x) for x in range(0, 10)] == [0, 0, 1, 2, 2, 3, 3, 3, 3, 4]
    for x in list(range(1, 3000)) + [2**20, 2**20 + 1, 2**31 - 1, 2**31, 2**31 + 1]:
        assert bit_width(x) == ceil_log2(x) == (x - 1).bit_length()


def test_layout_costs_paper_example():
    assert layout_costs(7, 5, 10) == {"dense": 50, "coo": 49, "time": 40, "units": 48}
    assert choose_layout(7, 5, 10) == "time"


def paper_matrix():
    z = np.zeros((5, 10), bool)
    for u, t in [(0, 3), (1, 0), (1, 4), (2, 9), (3, 1), (3, 3), (4, 6)]:
        z[u, t] = True
    return z


# The exact payload bits of the paper's example (formats/spk-v1.md, section "Worked example").
PAPER_PAYLOADS = {
    # unit 0..4, ten frames each
    "dense": "0001000000" "1000100000" "0000000001" "0101000000" "0000001000",
    # (unit 3 bits, time 4 bits) for (0,3) (1,0) (1,4) (2,9) (3,1) (3,3) (4,6)
    "coo": "0000011" "0010000" "0010100" "0101001" "0110001" "0110011" "1000110",
    # L_time = 3,0,4,9,1,3,6 (4 bits) then pointers 1,3,4,6 (3 bits)
    "time": "0011" "0000" "0100" "1001" "0001" "0011" "0110" "001" "011" "100" "110",
    # L_units = 1,3,0,3,1,4,2 (3 bits) then pointers 1,2,2,4,5,5,6,6,6 (3 bits)
    "units": "001" "011" "000" "011" "001" "100" "010" "001" "010" "010" "100" "101" "101" "110" "110" "110",
}


def test_paper_example_exact_bits():
    z = paper_matrix()
    # clip header: 2-bit tag + b(5*10+1) = 6 bits holding S = 7
    for tag, name in enumerate(LAYOUTS):
        bits = encode_clip(z, None, name)
        head = format(tag, "02b") + format(7, "06b")
        payload = PAPER_PAYLOADS[name]
        # coo record = unit (3 bits) then time (4 bits): 7 bits per event
        assert len(payload) == layout_costs(7, 5, 10)[name]
        assert bits.to01() == head + payload, name
    with_level = encode_clip(z, 17)
    assert with_level.to01() == "10" + "000111" + "10001" + PAPER_PAYLOADS["time"]


@settings(max_examples=250, deadline=None)
@given(clips(), st.one_of(st.none(), st.integers(0, 31)))
def test_every_layout_round_trips(z, level):
    N, T = z.shape
    S = int(z.sum())
    costs = layout_costs(S, N, T)
    hb = clip_header_bits(N, T, level is not None)
    assert hb == 2 + ceil_log2(N * T + 1) + (5 if level is not None else 0)
    for tag, name in enumerate(LAYOUTS):
        bits = encode_clip(z, level, name)
        assert len(bits) == hb + costs[name]
        assert int(bits[:2].to01(), 2) == tag
        z2, lv, off = decode_clip(bits, 0, N, T, level is not None)
        assert off == len(bits)
        assert lv == level
        assert z2.dtype == bool and z2.shape == (N, T)
        assert np.array_equal(z2, z)


@settings(max_examples=200, deadline=None)
@given(clips(), st.one_of(st.none(), st.integers(0, 31)))
def test_every_layout_round_trips_v2(z, level):
    """.spk v2 records: 3-bit tag, the four v1 layouts plus ctx; a forced ctx record decodes exactly when it is
    canonical (strictly cheaper than every v1 layout) and is rejected otherwise; the writer's own choice is the
    cheapest of the five and record_bits (compress.clip_bits) is its exact length."""
    N, T = z.shape
    S = int(z.sum())
    costs = layout_costs(S, N, T)
    hb = clip_header_bits(N, T, level is not None, 2)
    assert hb == 3 + ceil_log2(N * T + 1) + (5 if level is not None else 0)
    for tag, name in enumerate(LAYOUTS_V2):
        try:
            bits = encode_clip(z, level, name, version=2)
        except ValueError:  # a ctx code longer than the dense layout cannot be stored
            assert name == CTX
            continue
        assert int(bits[:3].to01(), 2) == tag
        if name != CTX:
            assert len(bits) == hb + costs[name]
        elif len(bits) - hb >= min(costs.values()):  # not canonical: the reader refuses it
            with pytest.raises(SpkFormatError, match="not cheaper"):
                decode_clip(bits, 0, N, T, level is not None, 2)
            continue
        z2, lv, off = decode_clip(bits, 0, N, T, level is not None, 2)
        assert off == len(bits) and lv == level
        assert z2.dtype == bool and z2.shape == (N, T)
        assert np.array_equal(z2, z)
    best = encode_clip(z, level, version=2)
    assert len(best) == record_bits(z, level is not None, 2) <= hb + min(costs.values())
    name = LAYOUTS_V2[int(best[:3].to01(), 2)]
    assert name == CTX or name == choose_layout(S, N, T)
    assert np.array_equal(decode_clip(best, 0, N, T, level is not None, 2)[0], z)


@settings(max_examples=250, deadline=None)
@given(clips())
def test_chosen_layout_is_cheapest_and_bits_match_formula(z):
    N, T = z.shape
    S = int(z.sum())
    costs = layout_costs(S, N, T)
    bN, bT, bP = ceil_log2(N), ceil_log2(T), ceil_log2(S + 1)
    assert costs == {
        "dense": N * T,
        "coo": S * (bN + bT),
        "time": S * bT + (N - 1) * bP,
        "units": S * bN + (T - 1) * bP,
    }
    name = choose_layout(S, N, T)
    best = min(costs.values())
    assert costs[name] == best
    assert all(costs[other] > best for other in LAYOUTS[: LAYOUTS.index(name)])  # lowest tag on ties
    bits = encode_clip(z, None)
    assert len(bits) == 2 + ceil_log2(N * T + 1) + best
    assert LAYOUTS[int(bits[:2].to01(), 2)] == name


@settings(max_examples=60, deadline=None)
@given(clips(max_n=40, max_t=80), st.integers(0, 40), st.integers(0, 40), st.booleans())
def test_decode_at_offset_inside_a_longer_stream(z, pre, post, little):
    N, T = z.shape
    rng = np.random.default_rng(pre * 41 + post)
    prefix = bitarray(rng.integers(0, 2, pre).tolist(), endian="big")
    suffix = bitarray(rng.integers(0, 2, post).tolist(), endian="big")
    rec = encode_clip(z, 3)
    stream = prefix + rec + suffix
    if little:
        stream = bitarray(stream.to01(), endian="little")
    z2, lv, off = decode_clip(stream, pre, N, T, True)
    assert np.array_equal(z2, z) and lv == 3 and off == pre + len(rec)


def test_layout_regimes_each_win():
    # the four regimes of the paper's Figure 1, at N=80, T=1024
    N, T = 80, 1024
    winners = {choose_layout(S, N, T) for S in range(0, N * T + 1, 97)}
    assert winners == {"coo", "time", "units", "dense"}
    assert choose_layout(0, N, T) == "coo"  # tie at 0 bits: lowest tag among coo/time/units
    assert choose_layout(N * T, N, T) == "dense"


def test_truncated_record_raises():
    z = paper_matrix()
    for name in LAYOUTS:
        bits = encode_clip(z, None, name)
        for cut in range(len(bits)):
            with pytest.raises(SpkFormatError):
                decode_clip(bits[:cut], 0, 5, 10, False)


def test_non_canonical_records_raise():
    z = paper_matrix()
    # S larger than N*T
    bad = bitarray("01" + "111111", endian="big")
    with pytest.raises(SpkFormatError):
        decode_clip(bad, 0, 5, 10, False)
    # coo pairs out of order: swap the first two records
    head = "01" + format(7, "06b")
    pay = PAPER_PAYLOADS["coo"]
    swapped = pay[7:14] + pay[0:7] + pay[14:]
    with pytest.raises(SpkFormatError):
        decode_clip(bitarray(head + swapped), 0, 5, 10, False)
    # coo unit index out of range (unit 7 with N=5)
    with pytest.raises(SpkFormatError):
        decode_clip(bitarray(head + "1110000" + pay[7:]), 0, 5, 10, False)
    # dense payload whose popcount differs from S
    with pytest.raises(SpkFormatError):
        decode_clip(bitarray("00" + format(8, "06b") + PAPER_PAYLOADS["dense"]), 0, 5, 10, False)
    # time layout with decreasing pointers
    head_t = "10" + format(7, "06b")
    times = PAPER_PAYLOADS["time"][:28]
    with pytest.raises(SpkFormatError):
        decode_clip(bitarray(head_t + times + "011" + "001" + "100" + "110"), 0, 5, 10, False)
    # duplicate event inside a unit (times not strictly ascending)
    t = [3, 0, 0, 9, 1, 3, 6]
    dup = "".join(format(x, "04b") for x in t) + PAPER_PAYLOADS["time"][28:]
    with pytest.raises(SpkFormatError):
        decode_clip(bitarray(head_t + dup), 0, 5, 10, False)
    # but every forced layout of the valid matrix decodes
    for name in LAYOUTS:
        assert np.array_equal(decode_clip(encode_clip(z, None, name), 0, 5, 10, False)[0], z)


def test_encode_rejects_bad_input():
    with pytest.raises(ValueError):
        encode_clip(np.zeros((0, 4), bool), None)
    with pytest.raises(ValueError):
        encode_clip(np.zeros((2, 4), bool), 32)
    with pytest.raises(ValueError):
        encode_clip(np.full((2, 4), 2), None)
    with pytest.raises(ValueError):
        encode_clip(np.zeros((2, 4), bool), None, "csr")
    # 0/1 integers are accepted
    z = (np.arange(8).reshape(2, 4) % 3 == 0).astype(np.int8)
    assert np.array_equal(decode_clip(encode_clip(z, None), 0, 2, 4, False)[0], z.astype(bool))

"""The ctx layout's context model (.spk v2, formats/spk-v2.md section 5) and its range coder.

``reference_model`` below is a second, deliberately plain implementation of the spec text (loops over
segments, steps and units, Python integers): the vectorised encoder must give the same bits in the same
order with the same probabilities."""

import contextlib
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikecodec.bitstream import SpkFormatError
from spikecodec.bitstream import ctx
from spikecodec.bitstream.bench import runs_z
from spikecodec.bitstream.ctx import (
    CELL_PRIOR,
    FLAG_PRIOR,
    SEGMENT,
    ctx_decode,
    ctx_encode,
    ctx_ideal_bits,
    ctx_probabilities,
)


def prob(n, n1, a):
    return max(1, ((8 * n1 + a) << 16) // (8 * n + 16))


def reference_model(z):
    """[(bit, k)] of clip z in coding order, straight from the spec."""
    N, T = z.shape
    L = SEGMENT
    S = -(-T // L)
    act = [[bool(z[u, s * L:(s + 1) * L].any()) for u in range(N)] for s in range(S)]
    out = []
    m, m1 = [0, 0, 0], [0, 0, 0]
    for s in range(S):
        seen = []
        for u in range(N):
            f = 2 if s == 0 else int(act[s - 1][u])
            out.append((int(act[s][u]), prob(m[f], m1[f], FLAG_PRIOR[f])))
            seen.append((f, int(act[s][u])))
        for f, b in seen:
            m[f] += 1
            m1[f] += b
    n = [[0, 0, 0] for _ in range(N)]
    n1 = [[0, 0, 0] for _ in range(N)]
    for j in range(L):
        seen = []
        for s in range(S):
            t = s * L + j
            if t >= T:
                continue
            for u in range(N):
                if not act[s][u]:
                    continue
                if j > 0:
                    c = int(z[u, t - 1])
                else:
                    c = 2 if s > 0 and act[s - 1][u] else 0
                b = int(z[u, t])
                out.append((b, prob(n[u][c], n1[u][c], CELL_PRIOR[c])))
                seen.append((u, c, b))
        for u, c, b in seen:
            n[u][c] += 1
            n1[u][c] += b
    return out


def markov(rng, N, T, density=0.1, stay=0.8):
    return runs_z(rng, N, T, density, stay)


@st.composite
def small_clips(draw):
    N = draw(st.integers(1, 9))
    T = draw(st.integers(1, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["iid", "markov", "empty", "full"]))
    if kind == "empty":
        return np.zeros((N, T), bool)
    if kind == "full":
        return np.ones((N, T), bool)
    if kind == "iid":
        return rng.random((N, T)) < draw(st.sampled_from([0.01, 0.1, 0.5, 0.9]))
    return markov(rng, N, T)


@settings(max_examples=60, deadline=None)
@given(small_clips())
def test_vectorised_model_matches_the_spec_text(z):
    sym, k = ctx_probabilities(z)
    ref = reference_model(z)
    assert [int(b) for b in sym] == [b for b, _ in ref]
    assert [int(x) for x in k] == [x for _, x in ref]
    assert all(1 <= x < 1 << 16 for x in k)
    assert np.array_equal(ctx_decode(ctx_encode(z), *z.shape), z)


def test_long_clips_use_the_formula_path_and_agree():
    """Clips longer than the lookup table (T > 256) compute k by the formula: same model."""
    rng = np.random.default_rng(3)
    for T in (257, 300, 600):
        z = markov(rng, 5, T)
        sym, k = ctx_probabilities(z)
        assert [int(x) for x in k] == [x for _, x in reference_model(z)]
        assert np.array_equal(ctx_decode(ctx_encode(z), 5, T), z)


def test_probability_is_exact_integer_arithmetic():
    # the float floor-division used for speed equals Python's integer one over the whole table range
    n = np.arange(0, 4096, 7)
    for a in CELL_PRIOR + FLAG_PRIOR:
        for n1_frac in (0.0, 0.3, 1.0):
            n1 = np.floor(n * n1_frac).astype(np.int64)
            got = ctx._k(n.astype(float), n1.astype(float), a)
            assert [int(x) for x in got] == [prob(int(x), int(y), a) for x, y in zip(n, n1)]
    big = np.array([65535.0 * 64]), np.array([0.0])
    assert int(ctx._k(*big, 1)[0]) == prob(65535 * 64, 0, 1) == 1


def test_real_code_is_close_to_the_ideal_code_length():
    rng = np.random.default_rng(7)
    for N, T, d in ((80, 256, 0.1), (80, 256, 0.05), (40, 512, 0.2)):
        z = markov(rng, N, T, d)
        real = 32 * ctx_encode(z).size
        ideal = ctx_ideal_bits(z)
        assert ideal <= real <= 1.02 * ideal + 64


def test_known_code():
    """The coded words of a fixed clip: a change of model or coder (e.g. constriction's quantiser) shows here
    (the conformance vectors pin whole files too)."""
    z = markov(np.random.default_rng(2024), 6, 70)
    words = ctx_encode(z)
    assert words.dtype == np.uint32
    assert [int(w) for w in words] == KNOWN_WORDS


KNOWN_WORDS = [3094349529, 4113737270, 1253144361, 3966073494]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 40), st.integers(1, 300))
def test_garbage_words_raise_the_format_error_only(blob, N, T):
    words = np.frombuffer(blob[: len(blob) // 4 * 4], dtype=">u4").astype(np.uint32)
    try:
        z = ctx_decode(words, N, T)
    except SpkFormatError:
        return
    assert z.shape == (N, T) and z.dtype == bool


def test_truncated_or_padded_code_is_refused():
    z = markov(np.random.default_rng(1), 20, 200)
    words = ctx_encode(z)
    assert words.size > 2
    for bad in (words[:-1], words[: words.size // 2], np.concatenate([words, [0, 0]]).astype(np.uint32)):
        with pytest.raises(SpkFormatError):
            ctx_decode(bad, 20, 200)


def reference_range_encode(bits_and_k):
    """formats/spk-v2.md section 6 in plain Python: the range coder (64-bit state, 32-bit words, 24-bit
    frequencies, constriction's carry handling and seal) fed with F(0) = ((2^16 - k)(2^24 - 2)) // 2^16 + 1."""
    M64, W = (1 << 64) - 1, 1 << 32
    lower, rng = 0, M64
    inverted = None  # (count, first word) while a carry is unresolved
    out = []
    for bit, k in bits_and_k:
        f0 = ((65536 - k) * ((1 << 24) - 2)) // 65536 + 1
        cum, freq = (0, f0) if bit == 0 else (f0, (1 << 24) - f0)
        scale = rng >> 24
        rng = scale * freq
        new_lower = (lower + scale * cum) & M64
        if inverted is not None and ((new_lower + rng) & M64) > new_lower:
            num, first = inverted
            first_word, rest = (first + 1, 0) if new_lower < lower else (first, W - 1)
            out += [first_word] + [rest] * (num - 1)
            inverted = None
        lower = new_lower
        if rng < W:
            rng <<= 32
            word = lower >> 32
            lower = (lower << 32) & M64
            if inverted is not None:
                inverted = (inverted[0] + 1, inverted[1])
            elif ((lower + rng) & M64) > lower:
                out.append(word)
            else:
                inverted = (1, word)
    if rng == M64:
        return out
    point = (lower + W - 1) & M64
    if inverted is not None:
        num, first = inverted
        first_word, rest = (first + 1, 0) if point < lower else (first, W - 1)
        out += [first_word] + [rest] * (num - 1)
    out.append(point >> 32)
    if ((lower + rng) & M64) >> 32 == point >> 32:
        out.append(0)
    return out


@settings(max_examples=40, deadline=None)
@given(small_clips())
def test_range_coder_matches_the_spec_text(z):
    """The words constriction writes are those of the spec's coder description (section 6), so a second
    implementation needs only the spec."""
    assert [int(w) for w in ctx_encode(z)] == reference_range_encode(reference_model(z))


def test_range_coder_matches_the_spec_text_on_long_clips():
    rng = np.random.default_rng(99)
    for N, T, d in ((80, 256, 0.1), (64, 300, 0.3), (30, 512, 0.05)):
        z = markov(rng, N, T, d)
        assert [int(w) for w in ctx_encode(z)] == reference_range_encode(reference_model(z))


# --- the C core (spikecodec/bitstream/_ctxcore.c) against the numpy + constriction reference ---

@contextlib.contextmanager
def reference_path():
    """ctx.py without its C core: the context model in numpy and constriction's coder."""
    saved, ctx._core = ctx._core, None
    try:
        yield
    finally:
        ctx._core = saved


def test_the_c_core_is_built_where_a_compiler_is():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the package runs on the reference path")
    assert ctx._core is not None, "setup.py did not build spikecodec.bitstream._ctxcore (see pip's output)"


@st.composite
def any_clips(draw):
    """Any z of issue 9's range: N 1-128, T 1-512, every density, i.i.d. or in runs."""
    N, T = draw(st.integers(1, 128)), draw(st.integers(1, 512))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d = draw(st.sampled_from([0.0, 0.002, 0.02, 0.1, 0.3, 0.5, 0.9, 1.0]))
    return markov(rng, N, T, max(d, 1e-3)) if draw(st.booleans()) and 0 < d < 0.5 else rng.random((N, T)) < d


@settings(max_examples=150, deadline=None)
@given(any_clips())
def test_c_core_writes_and_reads_the_reference_words(z):
    if ctx._core is None:
        pytest.skip("C core not built")
    words = ctx_encode(z)
    with reference_path():
        ref = ctx_encode(z)
        assert np.array_equal(ctx_decode(words, *z.shape), z)
    assert np.array_equal(words, ref)
    assert np.array_equal(ctx_decode(ref, *z.shape), z)


@settings(max_examples=150, deadline=None)
@given(small_clips(), st.integers(0, 2**32 - 1), st.sampled_from(["flip", "cut", "pad", "swap"]))
def test_c_core_and_reference_agree_on_damaged_codes(z, seed, damage):
    """Whatever the words, both paths give the same z or the same error: the core never accepts a code
    the reference refuses, nor the reverse."""
    if ctx._core is None:
        pytest.skip("C core not built")
    rng = np.random.default_rng(seed)
    words = ctx_encode(z).copy()
    if damage == "flip" and words.size:
        words[rng.integers(words.size)] ^= np.uint32(1 << int(rng.integers(32)))
    elif damage == "cut":
        words = words[: int(rng.integers(words.size + 1))]
    elif damage == "pad":
        words = np.concatenate([words, rng.integers(0, 2**32, int(rng.integers(1, 3)), dtype=np.uint32)])
    elif words.size > 1:
        i = int(rng.integers(words.size - 1))
        words[i], words[i + 1] = words[i + 1], words[i]

    def outcome():
        try:
            return ctx_decode(words.astype(np.uint32), *z.shape)
        except SpkFormatError as e:
            return str(e)
    fast = outcome()
    with reference_path():
        ref = outcome()
    if isinstance(ref, str):
        assert fast == ref
    else:
        assert np.array_equal(fast, ref)


def test_c_core_decodes_many_clips_like_the_reference():
    rng = np.random.default_rng(5)
    zs = [markov(rng, 30, 130, d) for d in (0.02, 0.1, 0.3)]
    codes = [ctx_encode(z) for z in zs]
    codes.insert(1, codes[0][:-1])       # one damaged clip among good ones
    fast = ctx.ctx_decode_many(codes, 30, 130)
    with reference_path():
        ref = ctx.ctx_decode_many(codes, 30, 130)
    assert isinstance(fast[1], str) and fast[1] == ref[1]
    for a, b in zip(fast[:1] + fast[2:], ref[:1] + ref[2:]):
        assert np.array_equal(a, b)

"""The ``ctx`` clip layout of .spk v2: z range-coded bit by bit with a context model.

formats/spk-v2.md section 5 is the normative text; in short, for a clip z (N units x T frames):

* the frames are cut into S = ceil(T / 64) *segments* of L = 64 frames (the last may be shorter);
* **stage 1, activity flags**: for s = 0 .. S-1, for every unit u, the bit ``a[u, s]`` = "unit u has an
  event in segment s", with context f = 2 for s = 0, else a[u, s-1]; one adaptive count pair per f,
  shared by all units, updated after each segment;
* **stage 2, cells**: for j = 0 .. L-1 (the position inside a segment), for s = 0 .. S-1, for every
  unit u with ``a[u, s] = 1`` and frame ``t = s*L + j < T``: the bit ``z[u, t]``, with context
  c = z[u, t-1] for j > 0; for j = 0, c = 0 if s = 0 or a[u, s-1] = 0 (the previous frame is known to
  be off) else 2 (the previous frame lies in a segment decoded in lockstep: unknown).  One adaptive count
  pair (n, n1) per (unit, c), updated after each step j with every cell coded in it.  Cells of silent
  segments are known zeros: neither coded nor counted.

Every probability is ``k / 2**16`` with ``k = max(1, ((8*n1 + a) * 2**16) // (8*n + 16))``: an adaptive
count started from a prior worth two observations (``a`` in eighths: cells c = 0/1/2: 1, 8, 2; flags
f = 0/1/2: 2, 14, 8).  Integer arithmetic only, so encoder and decoder agree on every platform.  The
segments are decoded in lockstep, so the decoder makes S + L vectorised steps per clip (68 for the usual
256 frames) instead of one per frame.  The state is reset at every clip: damage stays local.

The coder is the range coder of ``constriction`` (``stream.queue``: 64-bit state, 32-bit words, 24-bit
probabilities), given the two-symbol table ``[1 - k/2**16, k/2**16]`` (``Categorical(perfect=False)``),
whose quantizer maps it exactly to ``P(1) = 2**24 - 1 - ((2**16 - k) * (2**24 - 2)) // 2**16``.

Two paths write the same words: this module's numpy model with constriction (the reference, and the
fallback), and ``_ctxcore.c``, the same model and coder in one C pass (about 0.1 ms a clip instead of
0.4-1.2 ms: issue 9's container budget), used whenever it was built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import SpkFormatError

__all__ = ["PROB_BITS", "SEGMENT", "ctx_probabilities", "ctx_encode", "ctx_decode", "ctx_ideal_bits",
           "ctx_available"]

PROB_BITS = 16
SEGMENT = 64  # L
_ONE = float(1 << PROB_BITS)
CELL_PRIOR = (1, 8, 2)   # prior ones, in eighths of a count, of the cell contexts c = 0, 1, 2
FLAG_PRIOR = (2, 14, 8)  # ... of the flag contexts f = 0, 1, 2

try:  # constriction is a dependency, but keep v1 importable without it
    import constriction as _constriction

    _MODEL = _constriction.stream.model.Categorical(perfect=False)
except ImportError:  # pragma: no cover
    _constriction = None
    _MODEL = None


_core: Any
try:  # the same model and coder in C (setup.py builds it where a compiler is at hand): equal words, ~10x faster
    from . import _ctxcore as _core
except ImportError:  # pragma: no cover
    _core = None


def ctx_available() -> bool:
    return _constriction is not None


def _need():
    if _constriction is None:  # pragma: no cover
        raise SpkFormatError("this .spk file uses the entropy-coded 'ctx' layout; install 'constriction' to read it")


def _k(n, n1, a):
    """16-bit probability of a one, k = max(1, ((8 n1 + a) << 16) // (8 n + 16)), as float64.

    Computed as floor(float quotient): exact, because the numerator is < 2**40 and the denominator
    < 2**21, so a quotient just below an integer m < 2**16 is at least 2**-21 below it, far more than
    float64's spacing there (2**-36): rounding can never reach m."""
    k = np.floor((8.0 * n1 + a) * _ONE / (8.0 * n + 16.0))
    return np.maximum(k, 1.0, out=k)


def _rows(k: np.ndarray) -> np.ndarray:
    """k -> the coder's rows [1 - k/2**16, k/2**16] (exact in float64)."""
    out = np.empty((k.size, 2), np.float64)
    np.multiply(k.ravel(), 1.0 / _ONE, out=out[:, 1])
    np.subtract(1.0, out[:, 1], out=out[:, 0])
    return out


# Probability rows for every (context c, n, n1) with n < _M: a clip of at most _M frames then needs one
# table lookup per cell in the decoder (the table is the formula, precomputed; 3 MB, built on first use).
_M = 256
_LUT: np.ndarray | None = None


_KLUT: np.ndarray | None = None


def _klut() -> np.ndarray:
    global _KLUT
    if _KLUT is None:
        n, n1 = np.meshgrid(np.arange(_M, dtype=np.float64), np.arange(_M, dtype=np.float64), indexing="ij")
        _KLUT = np.concatenate([_k(n, n1, a).ravel() for a in CELL_PRIOR])
    return _KLUT


def _lut() -> np.ndarray:
    global _LUT
    if _LUT is None:
        _LUT = _rows(_klut())
    return _LUT


def _excl_cumsum(x, axis):
    c = np.cumsum(x, axis=axis)
    c -= x
    return c


def _model(z: np.ndarray):
    """Every coded bit of clip z in coding order: (bits int32, k float64), computed up front from z."""
    z = np.asarray(z, dtype=bool)
    N, T = z.shape
    L = SEGMENT
    S = -(-T // L)
    if S * L != T:
        zp = np.zeros((N, S * L), bool)
        zp[:, :T] = z
    else:
        zp = z
    Zt = np.ascontiguousarray(zp.reshape(N, S, L).transpose(2, 1, 0)).reshape(L, S * N)  # column s*N + u
    act = np.asarray(Zt.any(axis=0))                                    # (S*N,) flags in coding order
    actm = act.reshape(S, N)
    # stage 1: flags; shared counts per context f, updated per segment (S is small: plain Python)
    a_s = actm.sum(axis=1).tolist()
    both_s = (actm[1:] & actm[:-1]).sum(axis=1).tolist()
    m, m1 = [0, 0, 0], [0, 0, 0]
    table = np.empty((S, 3))
    for s in range(S):
        table[s] = [max(1, ((8 * m1[f] + FLAG_PRIOR[f]) << PROB_BITS) // (8 * m[f] + 16)) for f in range(3)]
        if s == 0:
            m[2] += N
            m1[2] += a_s[0]
        else:
            m[1] += a_s[s - 1]
            m1[1] += both_s[s - 1]
            m[0] += N - a_s[s - 1]
            m1[0] += a_s[s] - both_s[s - 1]
    f = np.empty((S, N), np.intp)
    f[0] = 2
    f[1:] = actm[:-1]
    f += 3 * np.arange(S)[:, None]
    ra = np.flatnonzero(act)                                            # active rows, s-major then u
    R = ra.size
    last = T - (S - 1) * L                                              # frames of the last segment
    r_short = int(np.searchsorted(ra, (S - 1) * N)) if last < L else R  # rows coded at steps j >= last
    ncells = R * last + r_short * (L - last)
    bits = np.empty(S * N + ncells, np.int32)
    k = np.empty(S * N + ncells)
    bits[:S * N] = act
    k[:S * N] = table.ravel()[f.ravel()]
    if not R:
        return bits, k
    # stage 2: cells of the active rows, step j major; per (unit, context) counts updated per step
    ru = ra % N
    Zr = Zt[:, ra]                                                      # (L, R); zero past T
    pa = np.zeros(R, bool)                                              # previous segment of the unit active
    later = ra >= N
    pa[later] = act[ra[later] - N]
    Z8 = Zr.view(np.uint8)
    U = _unit_sum(ru, N)
    onesA = U(Z8)                                                       # (L, N): ones at step j
    o1 = U(Z8[:-1] & Z8[1:])                                            # (L-1, N): ones after a one, steps j >= 1
    rows_u = np.bincount(ru, minlength=N).astype(np.int64)              # coded cells per step (all rows)
    cnt = np.empty((2, L, N), np.int64)                                 # context 0 at steps j: cells, ones
    c1 = np.empty((2, L - 1, N), np.int64)                              # context 1 at steps j >= 1
    cnt[0] = rows_u
    cnt[1] = onesA
    c1[0] = onesA[:-1]                                                  # a one at j-1 makes context 1 at j
    c1[1] = o1
    if r_short < R:                                                     # the last segment ends at step last
        short_u = np.bincount(ru[r_short:], minlength=N)
        cnt[0, last:] -= short_u
        ones_last = np.bincount(ru[r_short:], weights=Z8[last - 1, r_short:], minlength=N).astype(np.int64)
        c1[0, last - 1] -= ones_last                                    # (no cell of theirs at step last)
    cnt[:, 1:] -= c1
    cnt[0, 0] -= np.bincount(ru, weights=pa, minlength=N).astype(np.int64)
    cnt[1, 0] -= np.bincount(ru, weights=pa & Zr[0], minlength=N).astype(np.int64)
    n0 = np.cumsum(cnt, axis=1)
    n0 -= cnt
    K0 = _kk(0, n0[0], n0[1])                                           # (L, N)
    K1 = np.empty((L - 1, N))
    K1[0] = _kk(1, 0, 0)
    if L > 2:
        n1 = np.cumsum(c1[:, :-1], axis=1)
        K1[1:] = _kk(1, n1[0], n1[1])
    kr = np.empty((L, R))
    kr[0] = np.where(pa, _kk(2, 0, 0), K0[0, ru])
    kr[1:] = np.where(Zr[:-1], K1[:, ru], K0[1:, ru])
    o = S * N
    if r_short == R:
        bits[o:] = Z8.ravel()
        k[o:] = kr.ravel()
    else:
        h = R * last
        bits[o:o + h] = Z8[:last].ravel()
        k[o:o + h] = kr[:last].ravel()
        bits[o + h:] = Z8[last:, :r_short].ravel()
        k[o + h:] = kr[last:, :r_short].ravel()
    return bits, k


def _unit_sum(ru: np.ndarray, N: int):
    """A function (L, R) array -> (L, N) float: the sum over the rows of each unit."""
    order = np.argsort(ru, kind="stable")
    su = ru[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    units = su[starts]

    def f(x):
        out = np.zeros((x.shape[0], N), np.int64)
        out[:, units] = np.add.reduceat(x[:, order], starts, axis=1, dtype=np.int64)
        return out
    return f


def _kk(c: int, n, n1):
    """k of cell context c for counts (n, n1) (float arrays of integers): from the table when they are small."""
    if np.ndim(n) == 0:
        return float(max(1, ((8 * int(n1) + CELL_PRIOR[c]) << PROB_BITS) // (8 * int(n) + 16)))
    if n.size and n.max() < _M:
        idx = n * _M
        idx += n1
        idx += c * _M * _M
        return _klut()[idx]
    return _k(n.astype(np.float64), n1.astype(np.float64), CELL_PRIOR[c])


def ctx_probabilities(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bits, k): every coded bit of clip z in coding order and its 16-bit probability of a one."""
    bits, k = _model(z)
    return bits, k.astype(np.int64)


def ctx_ideal_bits(z: np.ndarray) -> float:
    """The context model's own code length of clip z: sum of -log2 P(bit) over the coded bits."""
    sym, k = ctx_probabilities(z)
    p1 = k * (1.0 / _ONE)
    return float(-np.log2(np.where(sym, p1, 1.0 - p1)).sum())


def ctx_encode(z: np.ndarray) -> np.ndarray:
    """Range-code clip z (bool (N, T)) -> uint32 words."""
    z = np.ascontiguousarray(z, dtype=bool)
    if _core is not None and z.size:
        return np.frombuffer(_core.encode(z, *z.shape), dtype=np.uint32)
    _need()
    bits, k = _model(z)
    enc = _constriction.stream.queue.RangeEncoder()
    enc.encode(bits, _MODEL, _rows(k))
    return np.asarray(enc.get_compressed(), dtype=np.uint32)


def ctx_decode(words: np.ndarray, N: int, T: int) -> np.ndarray:
    """Inverse of ctx_encode: uint32 words -> bool (N, T).  Raises SpkFormatError on words that are not a
    canonical ctx code of an N x T clip (exactly the model's bits are decoded: it never hangs)."""
    z = ctx_decode_many([words], N, T)[0]
    if isinstance(z, str):
        raise SpkFormatError(z)
    return z


class _Clip:
    """One clip's range decoder; a failure (constriction raises on codes invalid for the model) is kept as a
    message, after which the clip decodes zeros (the caller drops it)."""

    __slots__ = ("dec", "error")

    def __init__(self, words):
        self.error = None
        try:
            self.dec = _constriction.stream.queue.RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        except Exception as e:  # noqa: BLE001
            self.dec, self.error = None, f"ctx clip: invalid range-coded stream ({type(e).__name__})"

    def decode(self, rows, out):
        if self.error is None:
            try:
                out[:] = self.dec.decode(_MODEL, rows)
                return
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except BaseException as e:  # noqa: BLE001 -- AssertionError, or a pyo3 panic (a BaseException)
                self.error = f"ctx clip: invalid range-coded stream ({type(e).__name__})"
        out[:] = 0


def ctx_decode_many(words_list, N: int, T: int) -> list:
    """Decode several N x T ctx clips: per clip a bool (N, T) array, or a str saying why that clip's code is
    invalid or not canonical.

    With the C core a clip's decode is accepted only when re-encoding it gives back its very words (then
    constriction would decode the same z and find the code exhausted); any other clip goes through the
    reference path below, whose verdict and message are the format's."""
    if _core is None or not N or not T:
        return _decode_many_reference(words_list, N, T)
    result: list = [None] * len(words_list)
    rest = []
    for i, w in enumerate(words_list):
        w = np.ascontiguousarray(w, dtype=np.uint32).tobytes()
        z = _core.decode(w, N, T)
        if z is not None and _core.encode(z, N, T) == w:
            result[i] = np.frombuffer(z, dtype=bool).reshape(N, T)
        else:
            rest.append(i)
    for i, r in zip(rest, _decode_many_reference([words_list[i] for i in rest], N, T)):
        result[i] = r
    return result


def _decode_many_reference(words_list, N: int, T: int) -> list:
    """ctx_decode_many in numpy and constriction: the clips in lockstep (their numpy work batched, one coder
    call per clip and step)."""
    _need()
    B = len(words_list)
    if not B:
        return []
    L = SEGMENT
    S = -(-T // L)
    clips = [_Clip(w) for w in words_list]
    # stage 1: flags, all clips at once; per clip shared counts per context f
    act = np.zeros((S, B, N), np.int32)
    cnt = np.zeros((B, 3))
    ones = np.zeros((B, 3))
    prior = np.array(FLAG_PRIOR, np.float64)
    boff = 3 * np.arange(B)[:, None]
    f = np.full((B, N), 2, np.int64)
    for s in range(S):
        rows = _rows(_k(cnt, ones, prior).ravel()[(f + boff).ravel()])
        flags = act[s]
        for b, c in enumerate(clips):
            c.decode(rows[b * N:(b + 1) * N], flags[b])
        key = (f + boff).ravel()
        cnt += np.bincount(key, minlength=3 * B).reshape(B, 3)
        ones += np.bincount(key, weights=flags.ravel(), minlength=3 * B).reshape(B, 3)
        f = flags.astype(np.int64)
    actb = act.transpose(1, 0, 2) != 0                           # (B, S, N)
    # stage 2: the active (segment, unit) rows of every clip, clip-major, then segment, then unit
    rb, rs, ru = np.nonzero(actb)
    out: np.ndarray = np.zeros((B, N, S * L), bool)
    if rb.size:
        last = T - (S - 1) * L                                    # frames of the last segment
        prev = np.zeros((B, S + 1, N), bool)
        prev[:, 1:] = actb
        base = 3 * (rb * N + ru)                                  # (clip, unit) of each row
        idx = base + np.where(prev[rb, rs, ru], 2, 0)
        R = rb.size
        alive = None                                              # all rows, until the last segment ends
        grid = np.zeros((L, R), np.int32)                         # decoded bits, step x row
        bl = np.searchsorted(rb, np.arange(B + 1)).tolist()      # rows of clip b: bl[b]:bl[b + 1]
        lut = _lut() if T <= _M else None
        if lut is not None:   # counts < _M: one table lookup per cell; state = (c * _M + n) * _M + n1
            st = np.tile(np.arange(3, dtype=np.int64) * (_M * _M), B * N)
        else:
            n = np.zeros(3 * B * N)
            n1 = np.zeros(3 * B * N)
            pri = np.tile(np.array(CELL_PRIOR, np.float64), B * N)
        one = clips[0] if B == 1 else None
        for j in range(L):
            if j == last:                                         # the last segment has ended
                alive = np.flatnonzero(rs != S - 1)
                if not alive.size:
                    break
                idx, base = idx[alive], base[alive]
                bl = np.searchsorted(rb[alive], np.arange(B + 1)).tolist()
            rows = lut[st[idx]] if lut is not None else _rows(_k(n[idx], n1[idx], pri[idx]))
            bits = grid[j] if alive is None else np.empty(alive.size, np.int32)
            if one is not None:
                one.decode(rows, bits)
            else:
                for b, c in enumerate(clips):
                    if bl[b] < bl[b + 1]:
                        c.decode(rows[bl[b]:bl[b + 1]], bits[bl[b]:bl[b + 1]])
            if alive is not None:
                grid[j, alive] = bits
            if lut is not None:   # n += 1 and n1 += bit for each decoded cell's (clip, unit, context)
                np.add(st, np.bincount(idx, weights=bits + _M, minlength=3 * B * N), out=st, casting="unsafe")
            else:
                n += np.bincount(idx, minlength=3 * B * N)
                n1 += np.bincount(idx, weights=bits, minlength=3 * B * N)
            idx = base + bits
        out[rb[:, None], ru[:, None], (rs * L)[:, None] + np.arange(L)] = grid.T != 0
    seg = np.asarray(out.reshape(B, N, S, L).any(axis=3)).transpose(0, 2, 1)   # (B, S, N)
    result: list = []
    for b, c in enumerate(clips):
        if c.error is not None:
            result.append(c.error)
        elif not c.dec.maybe_exhausted():
            result.append("ctx clip: the coded stream has words left over")
        elif not np.array_equal(seg[b], actb[b]):
            result.append("ctx clip: a segment flagged active holds no event (not canonical)")
        else:
            result.append(out[b, :, :T])
    return result

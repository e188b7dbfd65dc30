"""The ``ctx`` clip layout of .spk v2: z range-coded bit by bit with a context model.

Every cell ``z[u, t]`` of a clip is coded in frame-major order (frame 0 units
0..N-1, then frame 1, ...) with the probability of a one

    k / 2**16,   k = max(1, ((8 * n1 + a) * 2**16) // (8 * n + 16))

where ``c = z[u, t-1]`` is the same unit's previous frame (0 before the clip's
first frame), ``n`` is how many earlier frames of this clip had unit ``u`` in
context ``c``, ``n1`` how many of those were ones, and ``a = 1`` for ``c = 0``,
``a = 8`` for ``c = 1``: an adaptive count per (unit, previous frame), started
at a prior of 1/16 (off -> on) and 1/2 (on -> on) worth two observations.  The
state is reset at every clip, so a lost group never damages another one.
Everything is integer arithmetic: encoder and decoder compute the same k on
any platform.  See formats/spk-v2.md for why this model (measurements) and the
exact coder.

The coder is the range coder of ``constriction`` (``stream.queue``: 64-bit
state, 32-bit words, 24-bit probabilities), given the two-symbol table
``[1 - k/2**16, k/2**16]``, which its fast quantizer maps exactly to
``P(1) = 2**24 - 1 - ((2**16 - k) * (2**24 - 2)) // 2**16`` out of ``2**24``.

The encoder is fully vectorised (cumulative sums over the clip, one coder
call); the decoder makes one vectorised step per frame.
"""

from __future__ import annotations

import numpy as np

from ._errors import SpkFormatError

__all__ = ["PROB_BITS", "ctx_probabilities", "ctx_encode", "ctx_decode", "ctx_ideal_bits", "ctx_available"]

PROB_BITS = 16
_ONE = 1 << PROB_BITS
_PRIOR_ONES = (1, 8)  # a: prior ones (in eighths) for previous frame off / on; prior total is 16 eighths

try:  # constriction is a hard dependency, but keep the v1 path importable without it
    import constriction as _constriction

    _MODEL = _constriction.stream.model.Categorical(perfect=False)
except ImportError:  # pragma: no cover
    _constriction = None
    _MODEL = None


def ctx_available() -> bool:
    return _constriction is not None


def _need():
    if _constriction is None:  # pragma: no cover
        raise SpkFormatError("this .spk file uses the entropy-coded 'ctx' layout; install 'constriction' to read it")


def _counts(z: np.ndarray):
    """Per cell: on (previous frame on), n and n1 of its (unit, previous frame) context, all int32."""
    N, T = z.shape
    zi = z.view(np.int8) if z.dtype == np.bool_ else z.astype(np.int8)
    prev = np.zeros((N, T), np.int8)
    prev[:, 1:] = zi[:, :-1]
    cz = np.cumsum(zi, axis=1, dtype=np.int32)
    cz -= zi                                   # ones before t
    both = prev & zi
    c11 = np.cumsum(both, axis=1, dtype=np.int32)
    c11 -= both                                # on -> on transitions before t
    cp = cz - prev                             # frames before t whose previous frame was on
    on = prev.view(bool)
    n = np.where(on, cp, np.arange(T, dtype=np.int32) - cp)
    n1 = np.where(on, c11, cz - c11)
    return on, n, n1


def _k(on, n, n1):
    n, n1 = n.astype(np.int64), n1.astype(np.int64)
    a = np.where(on, _PRIOR_ONES[1], _PRIOR_ONES[0])
    return np.maximum(((8 * n1 + a) << PROB_BITS) // (8 * n + 16), 1)


def _table(k: np.ndarray) -> np.ndarray:
    """16-bit probabilities of a one -> the coder's rows [1 - k/2**16, k/2**16] (exact in float64)."""
    p1 = k.astype(np.float64) * (1.0 / _ONE)
    out = np.empty((p1.size, 2), np.float64)
    out[:, 1] = p1
    out[:, 0] = 1.0 - p1
    return out


# A lookup table of the probability rows for every (context, n, n1) with n < _M, so that the common
# clip of up to _M frames needs no division per cell.
_M = 256
_LUT: np.ndarray | None = None


def _lut() -> np.ndarray:
    global _LUT
    if _LUT is None:
        n, n1 = np.meshgrid(np.arange(_M), np.arange(_M), indexing="ij")
        k = np.concatenate([_k(np.zeros_like(n, bool), n, n1).ravel(), _k(np.ones_like(n, bool), n, n1).ravel()])
        _LUT = _table(k)
    return _LUT


def ctx_probabilities(z: np.ndarray) -> np.ndarray:
    """k (int64, shape (N, T)): 16-bit probability of a one for every cell of clip z."""
    return _k(*_counts(np.asarray(z, dtype=bool)))


def _rows(z: np.ndarray) -> np.ndarray:
    """(N*T, 2) probability rows [P(0), P(1)] in frame-major order."""
    on, n, n1 = _counts(z)
    if z.shape[1] <= _M:
        st = n * _M + n1
        st += on * (_M * _M)
        return _lut()[st.T.ravel()]
    return _table(_k(on, n, n1).T.ravel())


def ctx_ideal_bits(z: np.ndarray) -> float:
    """The context model's own code length of clip z: sum of -log2 P(z[u, t]) (no coder overhead)."""
    z = np.asarray(z, dtype=bool)
    if z.size == 0:
        return 0.0
    p1 = ctx_probabilities(z) * (1.0 / _ONE)
    return float(-np.log2(np.where(z, p1, 1.0 - p1)).sum())


def ctx_encode(z: np.ndarray) -> np.ndarray:
    """Range-code clip z (bool (N, T)) -> uint32 words."""
    _need()
    z = np.asarray(z, dtype=bool)
    enc = _constriction.stream.queue.RangeEncoder()
    enc.encode(np.ascontiguousarray(z.T).ravel().astype(np.int32), _MODEL, _rows(z))
    return np.asarray(enc.get_compressed(), dtype=np.uint32)


def ctx_decode(words: np.ndarray, N: int, T: int) -> np.ndarray:
    """Inverse of ctx_encode: uint32 words -> bool (N, T).  Raises SpkFormatError on words that are not a
    canonical ctx stream of an N x T clip (never hangs: exactly N*T symbols are decoded)."""
    _need()
    words = np.ascontiguousarray(words, dtype=np.uint32)
    out = np.empty((T, N), np.int32)
    try:
        dec = _constriction.stream.queue.RangeDecoder(words)
        if T <= _M:
            lut = _lut()
            state = np.zeros(2 * N, np.int64)     # LUT index of each (unit, context): c*M*M + n*M + n1
            state[1::2] = _M * _M
            base = np.arange(0, 2 * N, 2, dtype=np.int64)
            idx = base
            for t in range(T):
                st = state[idx]
                b = dec.decode(_MODEL, lut[st])
                out[t] = b
                st += _M
                st += b
                state[idx] = st
                idx = base + b  # (unit, this frame's value) is the next frame's context
        else:
            n = np.zeros(2 * N, np.int64)
            n1 = np.zeros(2 * N, np.int64)
            base = np.arange(0, 2 * N, 2, dtype=np.int64)
            prev = np.zeros(N, np.int64)
            for t in range(T):
                idx = base + prev
                b = dec.decode(_MODEL, _table(_k(prev.astype(bool), n[idx], n1[idx])))
                out[t] = b
                n[idx] += 1
                n1[idx] += b
                prev = b.astype(np.int64)
        exhausted = dec.maybe_exhausted()
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as e:  # constriction raises AssertionError / a pyo3 panic on invalid streams
        raise SpkFormatError(f"ctx clip: invalid range-coded stream ({type(e).__name__})") from None
    if not exhausted:
        raise SpkFormatError("ctx clip: the coded stream has words left over")
    return out.T.astype(bool)

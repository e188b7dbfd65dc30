"""Which units fire with which notes? Unit / note-onset cross-correlation, after
Lisboa & Bellec (2024), section 4 and figure 5, with a shuffled-onset baseline.

Definitions (one file; ``z`` is the file's event matrix, the channels OR-ed
together unless one channel is chosen):

* Frames: an onset at ``time_s`` falls in frame ``floor(time_s * model_sample_rate / hop)``
  (after subtracting ``offset``); onsets outside the file are dropped and counted.
* Onset train of note ``α``: ``n^α_t`` = number of onsets of pitch ``α`` in frame ``t``;
  ``K_α = Σ_t n^α_t``.
* Cross-correlation (the paper's eq. 9, for one file)::

      C^{iα}(τ) = Σ_t z^i_t · n^α_{t+τ},     τ = -W .. W,  W = 9  (|τ| < 10 frames)

  so ``C^{iα}(τ)`` counts the events of unit ``i`` that come ``τ`` frames *before*
  an onset of ``α`` (τ > 0: the unit leads the note; τ < 0: it follows it).
  Frames outside ``[0, F)`` hold no events.
* Peak prominence::

      φ^{iα} = ( max_{|τ|<10} C^{iα}(τ)  −  mean_{|τ|<10} C^{iα}(τ) ) / K_α

  the peak of ``C`` over the window minus its baseline (the mean over the same
  19 lags), normalised per onset: ``φ = 0.9`` means that at its best lag the unit
  fires at 90 % more of ``α``'s onsets than it does on average over ±9 frames. A
  flat ``C`` (no synchrony) gives ``φ`` near 0, a sharp peak (a unit locked to the
  note) near 1. ``peak_lag`` is the τ of the maximum (the smallest |τ| on a tie).
* Shuffled baseline: ``n_shuffles`` times (seeded), every note's onset train is
  circularly shifted by its own random offset in ``[2W+1, F-2W-1]`` frames, which
  keeps each note's rhythm and count but breaks its timing relative to ``z``;
  ``φ`` is recomputed. For each pair: ``p = (1 + #{φ_shuffled ≥ φ}) / (1 + n_shuffles)``
  (one-sided) and ``zscore = (φ − mean φ_shuffled) / std φ_shuffled``.
  A pair is *selective* when ``p ≤ alpha``; with ``P`` pairs, about ``alpha · P``
  pairs are selective by chance alone, and the result reports both counts.
  (The smallest possible p is ``1/(1 + n_shuffles)``; keep ``alpha`` above it.)

Only notes with at least one onset in the file are analysed.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .edit import EditError, SpkLike, as_spk

__all__ = ["Analysis", "analyze", "read_onsets", "read_midi", "onsets_from", "note_name", "WINDOW"]

WINDOW = 9  # |τ| < 10 frames
_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific name (60 -> C4, 21 -> A0)."""
    p = int(pitch)
    return f"{_NAMES[p % 12]}{p // 12 - 1}"


# --------------------------------------------------------------------------- onsets

def read_onsets(path_or_file) -> np.ndarray:
    """An onset CSV with a header naming ``time_s`` and ``pitch`` (other columns ignored;
    ``time``/``onset`` and ``note``/``midi`` also accepted) -> array (K, 2) of (time_s, pitch)."""
    if isinstance(path_or_file, (str, Path)):
        text = Path(path_or_file).read_text(encoding="utf-8-sig")
    else:
        text = path_or_file.read()
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise EditError("empty onset CSV")
    head = [c.strip().lower() for c in rows[0]]

    def col(*names):
        for n in names:
            if n in head:
                return head.index(n)
        return None

    ti, pi = col("time_s", "time", "onset", "onset_s", "start"), col("pitch", "note", "midi", "midi_pitch")
    if ti is None or pi is None:
        raise EditError(f"onset CSV needs columns time_s and pitch (found: {', '.join(head)})")
    out = []
    for n, r in enumerate(rows[1:], start=2):
        try:
            t, p = float(r[ti]), float(r[pi])
        except (ValueError, IndexError):
            raise EditError(f"onset CSV line {n}: expected a number in columns time_s and pitch") from None
        if not (math.isfinite(t) and math.isfinite(p)) or p != int(p) or not 0 <= p <= 127:
            raise EditError(f"onset CSV line {n}: bad time or pitch ({r[ti]!r}, {r[pi]!r})")
        out.append((t, p))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def read_midi(path) -> np.ndarray:
    """Note-on events (velocity > 0) of a MIDI file -> array (K, 2) of (time_s, pitch)."""
    try:
        import mido
    except ImportError:  # pragma: no cover
        raise EditError("reading MIDI needs the mido package (pip install mido)") from None
    try:
        mf = mido.MidiFile(str(path))
    except (OSError, EOFError):
        raise
    except Exception as e:  # noqa: BLE001 -- mido raises assorted errors on bad files
        raise EditError(f"not a readable MIDI file ({e})") from None
    t = 0.0
    out = []
    for msg in mf:  # iteration yields messages with delta times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            out.append((t, msg.note))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def onsets_from(onsets) -> np.ndarray:
    """Accept a path (.csv, .mid/.midi), an array (K, 2) of (time_s, pitch), or a list of pairs."""
    if isinstance(onsets, (str, Path)):
        p = Path(onsets)
        if p.suffix.lower() in (".mid", ".midi"):
            return read_midi(p)
        return read_onsets(p)
    a = np.asarray(onsets, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 2)
    if a.ndim != 2 or a.shape[1] < 2:
        raise EditError(f"onsets must be (K, 2) pairs of (time_s, pitch), got shape {a.shape}")
    return a[:, :2]


# --------------------------------------------------------------------------- result

@dataclass
class Analysis:
    """Result of :func:`analyze`. Arrays are indexed [unit, note] (notes = ``pitches``)."""

    pitches: np.ndarray  # (A,) MIDI pitches with at least one onset
    onsets_per_note: np.ndarray  # (A,) K_α
    events_per_unit: np.ndarray  # (N,)
    lags: np.ndarray  # (2W+1,) τ
    C: np.ndarray  # (N, A, 2W+1) cross-correlation counts
    phi: np.ndarray  # (N, A) peak prominence
    peak_lag: np.ndarray  # (N, A)
    p: np.ndarray  # (N, A) one-sided p-value against the shuffles
    zscore: np.ndarray  # (N, A)
    shuffle_mean: np.ndarray  # (N, A)
    shuffle_std: np.ndarray  # (N, A)
    n_shuffles: int
    alpha: float
    seed: int | None
    num_frames: int
    frame_s: float
    onsets_dropped: int
    channel: int | None
    meta: dict = field(default_factory=dict)

    @property
    def units(self) -> int:
        return int(self.phi.shape[0])

    @property
    def selective(self) -> np.ndarray:
        """(N, A) bool: p <= alpha."""
        return self.p <= self.alpha

    @property
    def n_pairs(self) -> int:
        return int(self.phi.size)

    @property
    def n_selective(self) -> int:
        return int(self.selective.sum())

    @property
    def expected_by_chance(self) -> float:
        return self.alpha * self.n_pairs

    def top_pairs(self, n: int = 10) -> list[dict]:
        """The ``n`` pairs with the highest z-score (ties: higher φ)."""
        if not self.phi.size:
            return []
        order = np.lexsort((-self.phi.ravel(), -np.nan_to_num(self.zscore.ravel(), nan=-np.inf)))[:n]
        return [self._pair(*np.unravel_index(k, self.phi.shape)) for k in order]

    def _pair(self, i: int, a: int) -> dict:
        z = float(self.zscore[i, a])
        return {
            "unit": int(i), "pitch": int(self.pitches[a]), "note": note_name(self.pitches[a]),
            "phi": float(self.phi[i, a]), "peak_lag": int(self.peak_lag[i, a]),
            "p": float(self.p[i, a]), "zscore": z if math.isfinite(z) else None,
            "selective": bool(self.selective[i, a]),
            "onsets": int(self.onsets_per_note[a]), "events": int(self.events_per_unit[i]),
        }

    def summary(self) -> dict:
        return {
            "units": self.units, "notes": int(len(self.pitches)), "pairs": self.n_pairs,
            "onsets": int(self.onsets_per_note.sum()), "onsets_dropped": self.onsets_dropped,
            "frames": self.num_frames, "frame_s": self.frame_s, "window_frames": WINDOW,
            "n_shuffles": self.n_shuffles, "seed": self.seed, "alpha": self.alpha,
            "selective": self.n_selective, "expected_by_chance": self.expected_by_chance,
            "channel": self.channel, **self.meta,
        }

    def to_dict(self) -> dict:
        pairs = [self._pair(i, a) for i in range(self.phi.shape[0]) for a in range(self.phi.shape[1])]
        return {"summary": self.summary(), "top": self.top_pairs(10), "pairs": pairs}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_csv(self) -> str:
        """One row per (unit, note): unit,pitch,note,phi,peak_lag,p,zscore,selective,onsets,events."""
        buf = io.StringIO()
        cols = ["unit", "pitch", "note", "phi", "peak_lag", "p", "zscore", "selective", "onsets", "events"]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for i in range(self.phi.shape[0]):
            for a in range(self.phi.shape[1]):
                d = self._pair(i, a)
                d["phi"] = f"{d['phi']:.6g}"
                d["p"] = f"{d['p']:.6g}"
                d["zscore"] = "" if d["zscore"] is None else f"{d['zscore']:.4g}"
                d["selective"] = int(d["selective"])
                w.writerow([d[c] for c in cols])
        return buf.getvalue()

    def text(self) -> str:
        s = self.summary()
        lines = [
            f"{s['units']} units x {s['notes']} notes ({s['onsets']} onsets"
            + (f", {s['onsets_dropped']} outside the file" if s["onsets_dropped"] else "")
            + f"), {s['frames']} frames of {1000 * s['frame_s']:.1f} ms, |lag| < {WINDOW + 1} frames",
            f"selective pairs (p <= {s['alpha']:g}, {s['n_shuffles']} shuffles): {s['selective']} of {s['pairs']};"
            f" expected by chance: {s['expected_by_chance']:.1f}",
        ]
        top = self.top_pairs(10)
        if top:
            lines.append("  unit  note   pitch    phi   lag       p   zscore")
            for d in top:
                zs = "-" if d["zscore"] is None else f"{d['zscore']:.1f}"
                lines.append(f"  {d['unit']:>4}  {d['note']:<5} {d['pitch']:>5}  {d['phi']:5.2f}  {d['peak_lag']:>4}"
                             f"  {d['p']:.4f}  {zs:>7}")
        return "\n".join(lines)

    def heatmap(self, out=None, *, value: str = "phi", max_units: int = 64, width: int = 1200,
                height: int = 800, dpi: int = 100):
        """A units x notes heatmap like the paper's figure 5 (matplotlib, Agg). ``value``:
        ``"phi"`` or ``"zscore"``. With more than ``max_units`` units, shows the ``max_units``
        units with the highest peak z-score. Selective pairs are dotted. Saves a PNG to
        ``out`` (path or binary file) when given; returns the Figure."""
        from .plot import _new_figure, _save

        if value not in ("phi", "zscore"):
            raise EditError(f"value must be 'phi' or 'zscore', got {value!r}")
        fig = _new_figure(width, height, dpi)
        ax = fig.add_axes([0.08, 0.1, 0.8, 0.8])
        cax = fig.add_axes([0.9, 0.1, 0.02, 0.8])
        M = self.phi if value == "phi" else np.nan_to_num(self.zscore, nan=0.0, posinf=0.0, neginf=0.0)
        rows = np.arange(self.units)
        if self.units > max_units:
            best = np.nan_to_num(self.zscore, nan=-np.inf).max(axis=1) if self.phi.size else np.zeros(self.units)
            rows = np.sort(np.argsort(-best, kind="stable")[:max_units])
        M = M[rows] if M.size else np.zeros((len(rows), 0))
        if value == "phi":
            vmax = max(float(M.max()) if M.size else 1.0, 1e-9)
            im = ax.imshow(M, aspect="auto", interpolation="nearest", cmap="magma_r", vmin=0, vmax=vmax)
        else:
            lim = max(float(np.abs(M).max()) if M.size else 1.0, 1e-9)
            im = ax.imshow(M, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(im, cax=cax, label="peak prominence φ" if value == "phi" else "z-score vs shuffled onsets")
        sel = self.selective[rows] if self.phi.size else np.zeros((len(rows), 0), bool)
        yy, xx = np.nonzero(sel)
        if len(yy):
            ax.scatter(xx, yy, s=8, c="#00c0ff", marker="o", linewidths=0, label=f"p ≤ {self.alpha:g}")
            ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
        A = len(self.pitches)
        step = max(1, int(math.ceil(A / 40)))
        ax.set_xticks(np.arange(0, A, step))
        ax.set_xticklabels([note_name(p) for p in self.pitches[::step]], rotation=90, fontsize=7)
        ystep = max(1, int(math.ceil(len(rows) / 40)))
        ax.set_yticks(np.arange(0, len(rows), ystep))
        ax.set_yticklabels([str(int(r)) for r in rows[::ystep]], fontsize=7)
        ax.set_xlabel("note")
        ax.set_ylabel("unit")
        ax.set_title(f"{'φ' if value == 'phi' else 'z-score'} per unit and note: {self.n_selective} of "
                     f"{self.n_pairs} pairs selective at p ≤ {self.alpha:g} "
                     f"(chance: {self.expected_by_chance:.1f}; {self.n_shuffles} shuffles)", fontsize=9)
        if out is not None:
            _save(fig, out)
        return fig


# --------------------------------------------------------------------------- computation

def _phi_from_gather(zt: np.ndarray, idx: np.ndarray, starts: np.ndarray, K: np.ndarray):
    """zt: (F + 2W, N) uint8, z padded with W empty frames each side, frames as rows;
    idx: (K_total, 2W+1) rows of zt, onsets sorted by note; starts: each note's first onset.
    Returns C (N, A, 2W+1) int64 and phi (N, A)."""
    L = idx.shape[1]
    C = np.empty((len(starts), zt.shape[1], L), dtype=np.int64)
    for l in range(L):  # contiguous row gathers, summed per note
        C[:, :, l] = np.add.reduceat(zt[idx[:, l]], starts, axis=0, dtype=np.int32)
    C = C.transpose(1, 0, 2)
    phi = (C.max(axis=2) - C.mean(axis=2)) / K[None, :]
    return C, phi


def analyze(spk: SpkLike, onsets, *, n_shuffles: int = 200, seed: int | None = 0, alpha: float = 0.01,
            channel: int | None = None, offset: float = 0.0, pitches: Sequence[int] | None = None) -> Analysis:
    """Cross-correlate every unit with the onsets of every note (see the module docstring for
    the exact definitions of C, φ, the shuffles, p and the z-score).

    ``onsets``: a path (.csv with time_s,pitch / .mid), or (K, 2) pairs (time_s, pitch).
    ``channel``: analyse one channel; default: an event in any channel counts.
    ``offset``: seconds subtracted from every onset time (e.g. after a cut).
    ``pitches``: restrict to these notes.
    """
    s = as_spk(spk)
    h = s.header
    if not 0 < alpha < 1:
        raise EditError(f"alpha must be in (0, 1), got {alpha}")
    n_shuffles = int(n_shuffles)
    if n_shuffles < 0:
        raise EditError("n_shuffles must be >= 0")
    if n_shuffles and alpha * (1 + n_shuffles) < 1:
        raise EditError(f"with {n_shuffles} shuffles the smallest p-value is 1/{n_shuffles + 1} = "
                        f"{1 / (n_shuffles + 1):.3g} > alpha {alpha:g}: no pair could be selective; "
                        f"use at least {math.ceil(1 / alpha) - 1} shuffles or a larger alpha")
    if channel is None:
        z = np.logical_or.reduce(s.z) if len(s.z) > 1 else s.z[0]
    else:
        if not 0 <= channel < h.channels:
            raise EditError(f"no such channel {channel} (the file has {h.channels})")
        z = s.z[channel]
    N, F = z.shape
    ons = onsets_from(onsets)
    times = ons[:, 0] - float(offset)
    pit = ons[:, 1].astype(np.int64)
    # frame = floor(time_s * model_sample_rate / hop)
    frames = np.floor(times * h.model_sample_rate / h.hop).astype(np.int64)
    keep = (frames >= 0) & (frames < F)
    if pitches is not None:
        keep &= np.isin(pit, np.asarray(list(pitches), dtype=np.int64))
    dropped = int((~keep & ((frames < 0) | (frames >= F))).sum())
    frames, pit = frames[keep], pit[keep]
    if not len(frames):
        raise EditError("no note onset falls inside the file" + (f" ({dropped} outside)" if dropped else ""))
    order = np.lexsort((frames, pit))
    frames, pit = frames[order], pit[order]
    notes, starts, K = np.unique(pit, return_index=True, return_counts=True)
    W = WINDOW
    lags = np.arange(-W, W + 1)
    zt = np.zeros((F + 2 * W, N), dtype=np.uint8)
    zt[W:W + F] = z.T
    # C(τ) = Σ_t z_t n_{t+τ} = Σ_onsets z_{t_o - τ}: row (t_o - τ) + W of zt
    base_cols = W - lags[None, :]  # (1, L)

    C, phi = _phi_from_gather(zt, frames[:, None] + base_cols, starts, K)
    # peak lag: the maximum with the smallest |τ|
    pref = np.argsort(np.abs(lags), kind="stable")
    peak_lag = lags[pref][np.argmax(C[:, :, pref], axis=2)]

    A = len(notes)
    ge = np.zeros((N, A), dtype=np.int64)
    s1 = np.zeros((N, A))
    s2 = np.zeros((N, A))
    lo, hi = 2 * W + 1, F - 2 * W - 1
    if n_shuffles and hi < lo:
        raise EditError(f"the file is too short for shuffled onsets ({F} frames; needs at least {4 * W + 3})")
    rng = np.random.default_rng(seed)
    note_of = np.repeat(np.arange(A), K)
    for _ in range(n_shuffles):
        shift = rng.integers(lo, hi + 1, size=A)
        fr = (frames + shift[note_of]) % F
        _, ph = _phi_from_gather(zt, fr[:, None] + base_cols, starts, K)
        ge += ph >= phi - 1e-12
        s1 += ph
        s2 += ph * ph
    if n_shuffles:
        mean = s1 / n_shuffles
        std = np.sqrt(np.maximum(s2 / n_shuffles - mean * mean, 0.0))
        p = (1.0 + ge) / (1.0 + n_shuffles)
        with np.errstate(divide="ignore", invalid="ignore"):
            zs = np.where(std > 0, (phi - mean) / np.where(std > 0, std, 1.0),
                          np.where(phi > mean + 1e-12, np.inf, 0.0))
    else:
        mean = np.full((N, A), np.nan)
        std = np.full((N, A), np.nan)
        p = np.ones((N, A))
        zs = np.full((N, A), np.nan)
    return Analysis(
        pitches=notes, onsets_per_note=K, events_per_unit=z.sum(axis=1).astype(np.int64), lags=lags,
        C=C, phi=phi, peak_lag=peak_lag, p=p, zscore=zs, shuffle_mean=mean, shuffle_std=std,
        n_shuffles=n_shuffles, alpha=float(alpha), seed=seed, num_frames=F,
        frame_s=h.hop / h.model_sample_rate, onsets_dropped=dropped, channel=channel,
        meta={"model": h.model_name, "model_id": h.model_id},
    )

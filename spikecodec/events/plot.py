"""Event rasters of .spk files (matplotlib with the Agg canvas; no display, no pyplot state).

:func:`events_figure` builds a ``matplotlib.figure.Figure``: per channel, a raster
of ``z`` (units on the y axis, time in seconds on the x axis), the clip grid as
dashed lines, each clip's layout as a coloured strip along the top (its name
written in when the clip is wide enough), damaged clips hatched in red; with
``spectrogram=True`` the decoded audio's spectrogram lies beneath each raster on
the same time axis. :func:`plot_events` does the same and writes a PNG.

The figure is exactly ``width x height`` pixels (``dpi`` only scales the text).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .edit import EditError, SpkLike, as_spk, frame_seconds, time_to_frame

__all__ = ["events_figure", "plot_events", "LAYOUT_COLORS"]

LAYOUT_COLORS = {"dense": "#d62728", "coo": "#1f77b4", "time": "#2ca02c", "units": "#9467bd", "ctx": "#ff7f0e"}
_SCATTER_MAX = 60000  # above this many events in view, draw an image instead of markers


def _new_figure(width: int, height: int, dpi: int):
    # The Agg canvas directly: no pyplot, so a notebook's backend and figure list are untouched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width < 50 or height < 50:
        raise EditError(f"figure of {width}x{height} pixels is too small (at least 50x50)")
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out) -> None:
    """Write ``fig`` as PNG to a path or a binary file object, at exactly its pixel size."""
    if isinstance(out, (str, Path)):
        with open(out, "wb") as f:
            fig.savefig(f, format="png", dpi=fig.dpi)
    else:
        fig.savefig(out, format="png", dpi=fig.dpi)


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    _save(fig, buf)
    return buf.getvalue()


def _spectrogram(x: np.ndarray, sr: int, n_fft: int = 1024):
    """Log-magnitude STFT (dB), Hann window, hop n_fft/4 -> (freqs, times, S[freq, time])."""
    acc = _PooledSpectrogram(sr, n_fft, pool=1)
    acc.feed(np.asarray(x))
    return acc.result()


class _PooledSpectrogram:
    """The log-magnitude STFT of a signal fed block by block, max-pooled over time.

    Hann window, hop n_fft/4, frames from the first sample on (a signal shorter than one window
    is zero-padded to it). Every ``pool`` consecutive frames become one column (their maximum,
    so a short event stays visible), so memory is bounded by the number of columns, whatever
    the length of the audio: a picture has only so many pixels.
    """

    def __init__(self, sr: int, n_fft: int, pool: int = 1, chunk_frames: int = 2048):
        self.sr, self.n_fft, self.hop, self.pool = int(sr), int(n_fft), int(n_fft) // 4, max(1, int(pool))
        self.window = np.hanning(self.n_fft)
        self.buf = np.zeros(0)
        self.seen = 0           # samples fed
        self.frames = 0         # frames computed
        self.cols: list[np.ndarray] = []
        self.part: np.ndarray | None = None   # running max of the current, incomplete column
        self.part_n = 0
        self.chunk = chunk_frames

    def feed(self, x: np.ndarray) -> None:
        self.seen += len(x)
        self.buf = np.concatenate([self.buf, np.asarray(x, dtype=np.float64)])
        n_fft, hop = self.n_fft, self.hop
        while len(self.buf) >= n_fft:
            m = min(self.chunk, 1 + (len(self.buf) - n_fft) // hop)
            idx = np.arange(n_fft)[None, :] + hop * np.arange(m)[:, None]
            S = np.abs(np.fft.rfft(self.buf[idx] * self.window[None, :], axis=1))
            self._add(20 * np.log10(np.maximum(S, 1e-5)))
            self.buf = self.buf[m * hop:]

    def _add(self, S: np.ndarray) -> None:
        """S: (frames, freqs) dB."""
        self.frames += len(S)
        i = 0
        while i < len(S):
            take = min(self.pool - self.part_n, len(S) - i)
            m = S[i:i + take].max(axis=0)
            self.part = m if self.part is None else np.maximum(self.part, m)
            self.part_n += take
            i += take
            if self.part_n == self.pool:
                self.cols.append(self.part)
                self.part, self.part_n = None, 0

    def result(self):
        """(freqs, times, S[freq, column]); times are the centres of each column's first frame."""
        if self.frames == 0:  # shorter than one window: one zero-padded frame
            pad = np.pad(self.buf, (0, self.n_fft - len(self.buf)))
            S = np.abs(np.fft.rfft(pad * self.window))
            self._add(20 * np.log10(np.maximum(S, 1e-5))[None, :])
        if self.part is not None:
            self.cols.append(self.part)
            self.part, self.part_n = None, 0
        S = np.stack(self.cols, axis=1)
        times = (np.arange(S.shape[1]) * self.pool * self.hop + self.n_fft / 2) / self.sr
        freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.sr)
        return freqs, times, S


def _decoded_blocks(spk, data: bytes | None, f0: int, f1: int, model, device: str):
    """Decode frames [f0, f1) (with a margin so the edges are right), block by block (bounded
    memory) -> (iterator of (samples, channels) float32 blocks, sr, t0_s, total samples)."""
    from spikecodec.compress import _load_for, _output_blocks, parse

    from .edit import _cut

    h = spk.header
    margin = 64
    a, b = max(0, f0 - margin), min(h.num_frames, f1 + margin)
    piece = spk if (a, b) == (0, h.num_frames) else parse(_cut(spk, a, b))  # the whole file: no copy
    loaded = _load_for(piece, model, device)
    ph = piece.header
    return _output_blocks(piece, loaded, ph.source_sample_rate), ph.source_sample_rate, a * frame_seconds(h), ph.num_samples


def _spectrograms(blocks, sr: int, a_t0: float, total: int, t0: float, t1: float, chans, width: int) -> dict:
    """Per channel c in ``chans``: (extent, S) of the spectrogram of the audio between t0 and t1 s,
    from (samples, channels) blocks starting at a_t0 s; at most about 2 columns per pixel."""
    i0 = max(0, int(np.floor((t0 - a_t0) * sr)))
    i1 = min(total, int(np.ceil((t1 - a_t0) * sr)))
    if i1 - i0 < 16:
        return {}  # nothing to draw (the blocks are lazy: nothing was decoded)
    n_fft = 1024 if sr > 24000 else 512
    hop = n_fft // 4
    n_frames = 1 + max(0, i1 - i0 - n_fft) // hop
    pool = max(1, -(-n_frames // (2 * int(width))))
    accs = {c: _PooledSpectrogram(sr, n_fft, pool) for c in chans}
    pos = 0
    for blk in blocks:
        a, b = max(i0, pos), min(i1, pos + len(blk))
        if b > a:
            for c, acc in accs.items():
                acc.feed(blk[a - pos:b - pos, min(c, blk.shape[1] - 1)])
        pos += len(blk)
        if pos >= i1:
            break
    out = {}
    for c, acc in accs.items():
        fr, tt, S = acc.result()
        x0 = a_t0 + i0 / sr
        x1 = x0 + ((acc.frames - 1) * hop + n_fft / 2 + hop / 2) / sr  # the last frame's centre + hop/2
        out[c] = ((x0, x1, 0, fr[-1] / 1000), S)
    return out


def events_figure(spk: SpkLike, *, start: float | None = None, end: float | None = None,
                  channels: Sequence[int] | None = None, spectrogram: bool = False,
                  audio: tuple[np.ndarray, int] | None = None, model: Any = None, device: str = "cpu",
                  width: int = 1400, height: int | None = None, dpi: int = 100, title: str | None = None,
                  units: Sequence[int] | None = None):
    """A matplotlib Figure of the events of ``spk`` (SpkFile or .spk bytes).

    ``start``/``end``: seconds to show (snapped to frames). ``channels``: which to draw
    (default all). ``spectrogram``: add the spectrogram of the decoded audio beneath each
    raster; the audio is ``audio=(samples[, channels], rate)`` when given (e.g. the original,
    time 0 = the file's start), else the file decoded with ``model`` (default: the model named
    in the file; needs torch). ``units``: only these rows. ``height`` defaults to 320 px per
    channel (+220 with a spectrogram) + 90.
    """
    data = bytes(spk) if isinstance(spk, (bytes, bytearray, memoryview)) else None
    s = as_spk(spk)
    h = s.header
    d = frame_seconds(h)
    f0 = 0 if start is None else time_to_frame(h, start)
    f1 = h.num_frames if end is None else time_to_frame(h, end)
    if f1 <= f0:
        raise EditError(f"nothing to show: the range {start}:{end} s holds no frames "
                        f"(the file lasts {h.num_frames * d:.3f} s)")
    chans = list(range(h.channels)) if channels is None else [int(c) for c in channels]
    for c in chans:
        if not 0 <= c < h.channels:
            raise EditError(f"no such channel {c} (the file has {h.channels})")
    rows = np.arange(h.units) if units is None else np.asarray(sorted(set(int(u) for u in units)))
    if len(rows) == 0 or rows.min() < 0 or rows.max() >= h.units:
        raise EditError(f"units must be within 0..{h.units - 1}")

    t0, t1 = f0 * d, f1 * d
    specs: dict = {}
    if spectrogram:
        if audio is not None:
            x, sr = audio
            x = np.asarray(x)
            x = x[:, None] if x.ndim == 1 else x
            blocks = (x[i:i + 65536] for i in range(0, len(x), 65536))
            specs = _spectrograms(blocks, int(sr), 0.0, len(x), t0, t1, chans, width)
        else:
            specs = _spectrograms(*_decoded_blocks(s, data, f0, f1, model, device), t0, t1, chans, width)
    if height is None:
        height = 90 + len(chans) * (320 + (220 if spectrogram else 0))
    fig = _new_figure(int(width), int(height), int(dpi))

    n_ax = len(chans) * (2 if spectrogram else 1)
    ratios = [3, 2] * len(chans) if spectrogram else [1] * len(chans)
    gs = fig.add_gridspec(n_ax, 1, height_ratios=ratios, hspace=0.35,
                          left=70 / width, right=1 - 20 / width, top=1 - 50 / height, bottom=45 / height)
    T = h.frames_per_clip
    k0, k1 = f0 // T, (f1 - 1) // T
    clips = {(ci.channel, ci.index): ci for ci in s.info.clips}
    damaged = {(c, k) for c, k, *_ in s.damaged}
    axes = []
    px_per_s = width * (1 - 90 / width) / max(t1 - t0, 1e-9)
    total_events = 0
    for j, c in enumerate(chans):
        ax = fig.add_subplot(gs[j * (2 if spectrogram else 1)], sharex=axes[0] if axes else None)
        axes.append(ax)
        zc = s.z[c][rows][:, f0:f1]
        ev = int(zc.sum())
        total_events += ev
        if ev <= _SCATTER_MAX:
            u, t = np.nonzero(zc)
            ms = max(1.0, min(6.0, 200.0 / len(rows)))
            ax.scatter((f0 + t + 0.5) * d, u, marker="|", s=ms * ms, linewidths=max(0.5, min(1.5, px_per_s * d / 2)),
                       c="k", rasterized=True)
        else:  # max-pool to about 2 columns per pixel so no event disappears
            ncol = max(1, int(2 * width))
            step = max(1, -(-zc.shape[1] // ncol))
            pad = (-zc.shape[1]) % step
            zz = np.pad(zc, ((0, 0), (0, pad))).reshape(len(rows), -1, step).any(axis=2)
            ax.imshow(zz, aspect="auto", interpolation="nearest", cmap="Greys", origin="lower",
                      extent=(t0, t0 + zz.shape[1] * step * d, -0.5, len(rows) - 0.5), vmin=0, vmax=1)
        ax.set_ylim(-0.5, len(rows) - 0.5 + max(1.0, 0.06 * len(rows)))
        ytop = len(rows) - 0.5
        strip = max(1.0, 0.06 * len(rows))
        grid, bars, colors = [], [], []  # drawn in one call each: a long file has thousands of clips
        for k in range(k0, k1 + 1):
            a, b = h.clip_time_range(k)
            if k > k0 or a > t0:
                grid.append(a)
            a, b = max(a, t0), min(b, t1)
            ci = clips.get((c, k))
            if (c, k) in damaged:
                ax.axvspan(a, b, color="red", alpha=0.15, hatch="//", lw=0)
                ax.text((a + b) / 2, ytop + strip / 2, "lost", ha="center", va="center", fontsize=7, color="red")
                continue
            if ci is None:
                continue
            bars.append((a, b - a))
            colors.append(LAYOUT_COLORS.get(ci.layout, "0.5"))
            if (b - a) * px_per_s > 60:
                bits = ci.payload_bits + ci.header_bits
                ax.text((a + b) / 2, ytop + strip / 2, f"{ci.layout} {ci.events}ev {bits}b", ha="center",
                        va="center", fontsize=7, color="white", clip_on=True)
        if grid:
            ax.vlines(grid, 0, 1, transform=ax.get_xaxis_transform(), color="0.5", lw=0.7, ls="--")
        if bars:
            ax.broken_barh(bars, (ytop, strip), facecolors=colors, lw=0)
        ax.set_ylabel(f"unit (ch {c})" if h.channels > 1 else "unit")
        ax.set_xlim(t0, t1)
        if spectrogram:
            sax = fig.add_subplot(gs[j * 2 + 1], sharex=axes[0])
            if c in specs:
                extent, S = specs[c]
                vmax = float(S.max())
                sax.imshow(S, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                           extent=extent, vmin=vmax - 80, vmax=vmax)
            sax.set_ylabel("kHz")
            sax.set_xlim(t0, t1)
            axes.append(sax)
    axes[-1].set_xlabel("time (s)")
    from matplotlib.patches import Patch

    used = sorted({ci.layout for ci in s.info.clips}, key=list(LAYOUT_COLORS).index)
    handles = [Patch(color=LAYOUT_COLORS[l], label=l) for l in used]
    if handles:
        fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8, frameon=False,
                   title="clip layout", title_fontsize=8, bbox_to_anchor=(1 - 20 / width, 1.0))
    if title is None:
        kbps = s.info.bitrate_kbps
        title = (f"{h.model_name}: {h.units} units, {len(chans)} ch, {t0:.2f}-{t1:.2f} s, "
                 f"{total_events} events shown, file {kbps:.2f} kbps")
    fig.suptitle(title, x=70 / width, ha="left", fontsize=10, y=1 - 8 / height, va="top")
    return fig


def plot_events(spk: SpkLike, out=None, **kwargs):
    """Like :func:`events_figure`, and save the PNG to ``out`` (a path or a binary file object)
    when given. Returns the Figure (``png_bytes(fig)`` gives the PNG)."""
    fig = events_figure(spk, **kwargs)
    if out is not None:
        _save(fig, out)
    return fig

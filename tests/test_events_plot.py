"""spikecodec.events.plot_events: real PNGs of the asked size (read from the PNG header)."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from spikecodec.bitstream import Header, read_spk, write_spk
from spikecodec.events import EditError, events_figure, plot_events
from spikecodec.events.plot import png_bytes

HOP, MSR = 320, 16000


def png_size(b: bytes) -> tuple[int, int]:
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    assert b[12:16] == b"IHDR"
    return struct.unpack(">II", b[16:24])


def make(frames=300, units=20, channels=1, density=0.05, seed=0, levels=False):
    rng = np.random.default_rng(seed)
    h = Header(model_name="test", model_id="ab", source_sample_rate=MSR, model_sample_rate=MSR, channels=channels,
               num_samples=frames * HOP, num_frames=frames, units=units, frames_per_clip=64, hop=HOP,
               has_levels=levels)
    z = [rng.random((units, frames)) < density for _ in range(channels)]
    z[0][:, 64:128] = False  # an empty clip (coo, 0 bits)
    z[0][:, 128:140] = True  # a dense-ish one
    lv = [np.full(h.num_clips, 7) for _ in range(channels)] if levels else None
    return write_spk(h, z, lv)


def test_plot_png_size(tmp_path):
    out = tmp_path / "e.png"
    plot_events(make(), out, width=800, height=300)
    assert png_size(out.read_bytes()) == (800, 300)


def test_plot_default_size_stereo_zoom_and_spkfile():
    fig = plot_events(read_spk(make(channels=2, levels=True)), start=1.0, end=3.5, dpi=80)
    assert png_size(png_bytes(fig)) == (1400, 90 + 2 * 320)
    buf = io.BytesIO()
    plot_events(make(channels=2), buf, channels=[1], width=500, height=200)
    assert png_size(buf.getvalue()) == (500, 200)


def test_plot_dense_view_uses_image():
    # many events in view: drawn as a max-pooled image (no event may vanish), still the right size
    b = png_bytes(events_figure(make(frames=3000, units=64, density=0.4), width=600, height=250))
    assert png_size(b) == (600, 250)


def test_plot_spectrogram_from_given_audio():
    sr = 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(300 * HOP) / sr)
    fig = events_figure(make(), spectrogram=True, audio=(x, sr), width=700)
    assert png_size(png_bytes(fig)) == (700, 90 + 320 + 220)


def test_plot_bad_ranges():
    with pytest.raises(EditError):
        events_figure(make(), start=100, end=200)
    with pytest.raises(EditError):
        events_figure(make(), channels=[3])


def test_plot_spectrogram_with_the_model(model_spk, default_model):
    data = model_spk(seconds=2.0, density=0.05)
    fig = events_figure(data, spectrogram=True, model=default_model, width=600, height=400, start=0.5, end=1.5)
    assert png_size(png_bytes(fig)) == (600, 400)


def test_plot_marks_the_ctx_layout(tmp_path):
    """Every layout of .spk v2 has a colour; a file with entropy-coded clips plots with them marked."""
    from pathlib import Path

    from spikecodec.bitstream import LAYOUTS_V2
    from spikecodec.events.plot import LAYOUT_COLORS

    assert set(LAYOUTS_V2) <= set(LAYOUT_COLORS)
    vec = Path(__file__).resolve().parents[1] / "formats" / "vectors" / "v2_mixed.spk"
    fig = plot_events(vec.read_bytes(), dpi=60)
    labels = {t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg for t in leg.get_texts()}
    labels |= {t.get_text() for leg in fig.legends for t in leg.get_texts()}
    assert "ctx" in labels

"""Peak-locked phase (model.phase.peak_locked_phase): pitch from the magnitudes alone, window by window."""
import math

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from spikecodec.model.phase import analyse, peak_locked_phase
from spikecodec.model.spectral import overlap_add

torch.set_num_threads(1)
N_FFT, HOP, RATE = 2048, 512, 22050


def _tone(freq: float, frames: int = 64, amplitude: float = 0.3) -> torch.Tensor:
    t = torch.arange(frames * HOP, dtype=torch.float64) / RATE
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()[None]


def _peak_hz(audio: np.ndarray) -> float:
    """The strongest frequency, to a fraction of a hertz (zero-padded FFT of the middle)."""
    mid = audio[len(audio) // 4: 3 * len(audio) // 4] * np.hanning(len(audio) // 2)
    spectrum = np.abs(np.fft.rfft(mid, 16 * len(mid)))
    return float(np.argmax(spectrum) * RATE / (16 * len(mid)))


@settings(max_examples=15, deadline=None)
@given(st.floats(55.0, 220.0))
def test_a_low_tone_keeps_its_pitch_between_bins(freq):
    """Below 200 Hz a semitone is narrower than a bin (10.8 Hz): the pitch must come from the peak's shape."""
    x = _tone(freq)
    phase, _ = peak_locked_phase(analyse(x, N_FFT, HOP).abs(), N_FFT, HOP)
    y = overlap_add(torch.polar(analyse(x, N_FFT, HOP).abs(), phase), N_FFT, HOP)[0].numpy()
    cents = 1200 * abs(math.log2(_peak_hz(y) / freq))
    assert cents < 15, f"{freq:.1f} Hz came out at {_peak_hz(y):.1f} Hz"
    middle = slice(len(y) // 4, 3 * len(y) // 4)
    level = 20 * math.log10(np.std(y[middle]) / float(x[0, middle].std()))
    assert abs(level) < 1.0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 38))
def test_a_window_carried_on_equals_one_pass(seed, split):
    """The phase at frame t accumulates every frame before it: a window that starts from the carried
    phase of the frame before its first full-context frame continues exactly as one pass does."""
    gen = torch.Generator().manual_seed(seed)
    mag = torch.rand(2, N_FFT // 2 + 1, 40, generator=gen) ** 4
    whole, accumulated = peak_locked_phase(mag, N_FFT, HOP)
    lead = min(split, 3)          # frames before `split` that the window also holds, as streaming does
    part, _ = peak_locked_phase(mag[..., split - lead:], N_FFT, HOP, start=accumulated[..., split - 1], anchor=lead)
    difference = torch.remainder(part - whole[..., split - lead:] + math.pi, 2 * math.pi) - math.pi
    assert difference.abs().max() < 1e-4


def test_silence_and_its_gradient_stay_finite():
    """Silent frames (a magnitude of exactly zero, as the silence gate leaves them) make no NaN, forward or back."""
    log_mag = torch.full((1, N_FFT // 2 + 1, 12), -4.0, requires_grad=True)
    mag = torch.exp(log_mag.masked_fill(torch.arange(12) < 6, float("-inf")))
    phase, _ = peak_locked_phase(mag, N_FFT, HOP)
    y = overlap_add(torch.polar(mag, phase), N_FFT, HOP)
    assert torch.isfinite(y).all() and not y[0, :4 * HOP].any()
    y.pow(2).mean().backward()
    assert torch.isfinite(log_mag.grad).all()

"""Training losses whose meaning can be stated as a property: the chroma term hears pitch classes."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikecodec.training.losses import chroma_distance

RATE = 22050
SAMPLES = 48 * 512   # one training crop


def tone(midi: float, gain: float = 0.3) -> torch.Tensor:
    t = torch.arange(SAMPLES, dtype=torch.float64) / RATE
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    harmonics = sum(0.5 ** k * torch.sin(2 * torch.pi * f0 * (k + 1) * t) for k in range(3))
    return (gain * harmonics).float()[None]


notes = st.integers(min_value=36, max_value=84)   # C2..C6: the range the training corpus plays most


@settings(max_examples=20, deadline=None)
@given(note=notes, gain=st.floats(min_value=0.01, max_value=1.0))
def test_level_alone_costs_nothing(note, gain):
    assert float(chroma_distance(tone(note, gain), tone(note))) < 1e-4


@settings(max_examples=20, deadline=None)
@given(note=notes, semitones=st.integers(min_value=1, max_value=11))
def test_a_wrong_pitch_class_costs_more_than_a_wrong_octave(note, semitones):
    octave = float(chroma_distance(tone(note + 12 if note < 72 else note - 12), tone(note)))
    wrong = float(chroma_distance(tone(note + semitones), tone(note)))
    assert wrong > 0.2 and wrong > 3 * octave, (octave, wrong)


def test_a_partial_smeared_over_neighbouring_notes_costs_more_than_a_clean_one():
    """A partial spread over about the frame rate (what an incoherent decoder makes of it) loses its pitch."""
    x = tone(48)
    spec = torch.fft.rfft(x)
    width = int(40 / (RATE / SAMPLES))   # +-40 Hz, in bins of this length
    kernel = torch.ones(1, 1, 2 * width + 1) / (2 * width + 1)
    smeared = torch.nn.functional.conv1d(spec.abs()[None], kernel, padding=width)[0]
    noise = torch.fft.irfft(smeared * torch.exp(2j * torch.pi * torch.rand(smeared.shape, generator=torch.Generator().manual_seed(0))),
                            n=SAMPLES)
    assert float(chroma_distance(noise, x)) > 0.1 > 1e-4 > float(chroma_distance(x, x))


def test_silent_input_has_no_pitch_to_lose():
    quiet = torch.zeros(1, SAMPLES)
    assert float(chroma_distance(tone(60), quiet)) == 0.0


def test_gradient_reaches_the_output():
    y = tone(61).requires_grad_(True)
    chroma_distance(y, tone(60)).backward()
    assert y.grad is not None and np.isfinite(y.grad.numpy()).all() and float(y.grad.abs().sum()) > 0

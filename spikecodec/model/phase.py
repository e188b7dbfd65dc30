"""Phase retrieval for a magnitude decoder: fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013).

A decoder that predicts a free phase per frame overlap-adds frames that disagree: energy
cancels (the output is quieter than the input) and every partial is smeared over about the
frame rate. Griffin-Lim makes the phase consistent with the predicted magnitude instead:
it alternates between the signal (overlap-add) and its spectrogram (re-analysis), keeping
the magnitude and taking the phase. The "fast" variant adds a momentum term, which reaches
in a few iterations what plain Griffin-Lim reaches in tens.

Every iteration widens how far a frame's output depends on its neighbours by the frames
its analysis window overlaps (`frames_overlapped`); chunked streaming pads by that much.
"""
from __future__ import annotations

import torch

from .spectral import frame_signal, overlap_add


def frames_overlapped(n_fft: int, hop: int) -> int:
    """Neighbours on each side whose analysis windows overlap a frame's window."""
    return -(-n_fft // hop) - 1


def overlap_add_reach(n_fft: int, hop: int) -> int:
    """Neighbours on each side whose windows reach into a frame's own hop interval.

    Frame t+k's window starts (n_fft - hop) / 2 samples before its hop interval, so it
    reaches into frame t's interval when k * hop < (n_fft + hop) / 2.
    """
    return -(-(n_fft + hop) // (2 * hop)) - 1


def analyse(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, frames*hop) -> complex (B, n_fft//2+1, frames), the framing of `overlap_add`."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    return torch.fft.rfft(frame_signal(audio, n_fft, hop) * window, dim=-1).transpose(1, 2)


def griffin_lim(magnitude: torch.Tensor, phase: torch.Tensor, n_fft: int, hop: int, iterations: int,
                momentum: float = 0.99) -> torch.Tensor:
    """magnitude, phase: (B, n_fft//2+1, frames) -> (B, frames*hop) audio.

    Starts from `phase` (the decoder's own guess). Gradients flow through the magnitude
    only: the phase of each iteration is treated as a constant, since the angle of a
    near-zero bin has no useful gradient.
    """
    unit = torch.polar(torch.ones_like(magnitude), phase)
    previous = None
    for _ in range(iterations):
        audio = overlap_add(magnitude * unit, n_fft, hop)
        projected = analyse(audio, n_fft, hop).detach()
        step = projected if previous is None else projected + momentum * (projected - previous)
        previous = projected
        unit = step / step.abs().clamp(min=1e-12)
    return overlap_add(magnitude * unit, n_fft, hop)

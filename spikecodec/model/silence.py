"""Silence costs nothing: digitally silent frames emit no events, and no events decode to silence.

A learned encoder fires on silence (its thresholds sit at a fixed density), and a learned
decoder turns an all-zero z into hiss. Two exact rules close that gap:
  * encoder: a frame whose analysis window holds only digital silence (every sample below
    half a 16-bit step) emits no events;
  * decoder: a frame with no event within `radius` frames on either side is silent.
The decoder's rule looks at a neighbourhood rather than one frame, because at sparse
levels an ordinary quiet frame may carry no event of its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .spectral import frame_signal

SILENT_PEAK = 2.0 ** -16   # half a 16-bit step


def silent_frames(audio: torch.Tensor, n_fft: int, hop: int, padded: bool = False) -> torch.Tensor:
    """(B, frames*hop) audio -> (B, 1, frames) bool, True where the analysis window is silent."""
    return (frame_signal(audio, n_fft, hop, padded).abs().amax(dim=-1) < SILENT_PEAK)[:, None, :]


def active_frames(z: torch.Tensor, radius: int) -> torch.Tensor:
    """z (B, N, frames) -> (B, 1, frames) float, 1 where an event lies within `radius` frames."""
    any_event = z.amax(dim=1, keepdim=True)
    return F.max_pool1d(any_event, 2 * radius + 1, stride=1, padding=radius)

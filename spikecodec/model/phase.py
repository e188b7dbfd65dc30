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

import math
from dataclasses import dataclass

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


# The accumulated phase is a 32-bit fraction of a turn held in int64 (a numerically controlled
# oscillator's accumulator): integer sums are exact in any order, so a window that continues from a
# carried value gives the very phases one pass gives, and Griffin-Lim after it has nothing to amplify.
TURN = 2 ** 32


@dataclass
class PhaseCarry:
    """Where a window of a longer signal picks up `peak_locked_phase`'s accumulated phase.

    The caller sets `anchor` (the window's first frame that one pass would reach with full context)
    and `start` (the accumulated phase (B, bins) of the frame before it, from the previous window);
    synthesis fills in `accumulated` (B, bins, frames), from which the next window's `start` is read.
    """
    anchor: int = 0
    start: torch.Tensor | None = None
    accumulated: torch.Tensor | None = None

    def at(self, frame: int) -> torch.Tensor | None:
        """The accumulated phase at `frame` of this window (None for a decoder-phase model)."""
        return None if self.accumulated is None else self.accumulated[:, :, frame]


def peak_locked_phase(magnitude: torch.Tensor, n_fft: int, hop: int, start: torch.Tensor | None = None,
                      anchor: int = 0, floor_db: float = -70.0) -> tuple[torch.Tensor, torch.Tensor]:
    """magnitude (B, n_fft//2+1, frames) -> phase of the same shape, and the accumulated phase (int64, `TURN`ths).

    A phase vocoder with identity phase locking (Laroche & Dolson 1999), driven by the magnitudes
    alone: each frame's peaks give their partial's frequency to a fraction of a bin (a parabola
    through the log-magnitudes of the peak and its neighbours, accurate for a Hann window), each
    bin takes the phase advance per hop of its nearest peak, and the bins around a peak keep the
    phase relation of a windowed sinusoid (opposite signs from bin to bin in this uncentred framing).
    Griffin-Lim from the decoder's own phase leaves low partials at bin centres, up to a semitone
    off below about 200 Hz (10.8 Hz bins at 2048 / 22050 Hz); here the frequency comes from the
    peak's shape.

    The phase at frame t accumulates every advance up to t. `start` (B, bins) is the accumulated
    phase at frame `anchor` - 1 (zero before the first frame when None), so that a window of a
    longer signal continues the phase of the frames before it exactly as one pass would. The values
    come from the integer accumulator; the gradient, in training, from the same sum in floating point.
    """
    # Frames outermost inside: the peak search runs along bins, which are then contiguous (about a fifth
    # faster than along the caller's frames-last layout, with the same values).
    bins = magnitude.shape[1]
    log_mag = torch.log(magnitude.transpose(1, 2).contiguous().clamp(min=1e-12))          # (B, frames, bins)
    left = torch.cat([log_mag[..., :1], log_mag[..., :-1]], 2)
    right = torch.cat([log_mag[..., 1:], log_mag[..., -1:]], 2)
    loud = log_mag > log_mag.amax(2, keepdim=True) + floor_db / 20 * math.log(10)
    is_peak = (log_mag > left) & (log_mag >= right) & loud
    curvature = left - 2 * log_mag + right
    offset = torch.where(curvature < 0, 0.5 * (left - right) / curvature.clamp(max=-1e-6),
                         torch.zeros_like(log_mag)).clamp(-0.5, 0.5)
    k = torch.arange(bins, device=magnitude.device).expand_as(log_mag)
    below = torch.cummax(torch.where(is_peak, k, -bins), 2).values
    above = torch.flip(torch.cummin(torch.flip(torch.where(is_peak, k, 3 * bins), [2]), 2).values, [2])
    peak = torch.where(k - below <= above - k, below, above)
    peak = torch.where((peak < 0) | (peak >= bins), k, peak)           # a frame without peaks: bin centres
    frequency = peak.to(magnitude.dtype) + torch.gather(offset, 2, peak)           # in bins
    turns = (hop / n_fft) * frequency.double()                                     # advance per hop, in turns
    steps = torch.round(torch.remainder(turns, 1.0) * TURN).long()
    accumulated = torch.cumsum(steps, dim=1)
    if anchor > 0:
        accumulated = accumulated - accumulated[:, anchor - 1:anchor]
    if start is not None:
        accumulated = accumulated + start.unsqueeze(1)
    accumulated = accumulated & (TURN - 1)           # modulo TURN, for negative sums too (two's complement)
    # -pi per bin away from the peak: half a turn for an odd distance, none for an even one.
    locked = (torch.gather(accumulated, 2, peak) + ((k - peak) & 1) * (TURN // 2)) & (TURN - 1)
    phase = (2 * math.pi / TURN) * locked.double()
    if magnitude.requires_grad:        # straight through: the continuous sum's gradient, the exact sum's value
        smooth = torch.gather(torch.cumsum(turns, dim=1), 2, peak) * (2 * math.pi)
        phase = phase + (smooth - smooth.detach())
    phase, accumulated = phase.transpose(1, 2), accumulated.transpose(1, 2)
    return phase.to(magnitude.dtype), accumulated

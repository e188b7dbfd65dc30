"""Training losses.

Reconstruction: multi-resolution STFT (spectral convergence + log-magnitude L1 at 512, 1024
and 2048) and the log10-mel L1 with exactly the mel settings of the dev-set scorer's LMD
(shared/eval/score.py), so the loss we minimise is the distance we are judged by.
Magnitude-only on purpose: 80 bits a frame cannot carry absolute phase, and losses against
the reference phase shrink the output (shared/notes/model-calibration.md).

Sparsity (Lisboa & Bellec 2024, eq. 2 and section 5):
  * SPARSE: gamma * max(0, density - d0), gamma following a 0 / ramp / hold schedule;
  * mu-SPARSE: |S - S0(mu)| with S0(mu) = N*T*2^(-mu/4), per example, in density units.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F


def _stft_mag(x: torch.Tensor, n_fft: int, hop: int | None = None) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop or n_fft // 4, window=window, center=True, pad_mode="constant", return_complex=True)
    return spec.abs().clamp(min=1e-7)


def multi_resolution_stft(y: torch.Tensor, x: torch.Tensor, sizes=(512, 1024, 2048)) -> torch.Tensor:
    """y, x: (B, samples). Mean over resolutions of spectral convergence + log-magnitude L1."""
    total = 0.0
    for n in sizes:
        sy, sx = _stft_mag(y, n), _stft_mag(x, n)
        sc = torch.linalg.vector_norm(sx - sy, dim=(1, 2)) / torch.linalg.vector_norm(sx, dim=(1, 2)).clamp(min=1e-7)
        total = total + sc.mean() + (sy.log() - sx.log()).abs().mean()
    return total / len(sizes)


@functools.lru_cache(maxsize=4)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    import librosa
    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0, fmax=sample_rate / 2,
                             htk=False, norm="slaney")
    return torch.from_numpy(fb).float()


def log_mel(x: torch.Tensor, sample_rate: int = 22050) -> torch.Tensor:
    """(B, samples) -> (B, 80, frames) log10(mel power + 1e-5), the scorer's LMD features."""
    window = torch.hann_window(1024, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, 1024, 256, window=window, center=True, pad_mode="constant", return_complex=True)
    mel = _mel_basis(sample_rate, 1024, 80).to(x.device) @ spec.abs().pow(2)
    return torch.log10(mel + 1e-5)


def log_mel_distance(y: torch.Tensor, x: torch.Tensor, sample_rate: int = 22050) -> torch.Tensor:
    return (log_mel(y, sample_rate) - log_mel(x, sample_rate)).abs().mean()


def reconstruction_loss(y: torch.Tensor, x: torch.Tensor, mel_weight: float = 2.0, sample_rate: int = 22050):
    """Returns (total, parts) with parts = {"mrstft": ..., "lmd": ...} as floats."""
    mr = multi_resolution_stft(y, x)
    lmd = log_mel_distance(y, x, sample_rate)
    return mr + mel_weight * lmd, {"mrstft": float(mr.detach()), "lmd": float(lmd.detach())}


@functools.lru_cache(maxsize=4)
def _chroma_basis(sample_rate: int, n_fft: int, bins_per_octave: int = 36, octaves: int = 7,
                  fmin: float = 32.703) -> torch.Tensor:
    """(12, n_fft//2+1): STFT magnitude -> chroma, shaped after librosa's chroma_cqt (the dev scorer's).

    A constant-Q filter per third of a semitone from C1 over seven octaves, each a triangle in
    frequency one bin wide on either side (never narrower than two FFT bins), normalised to
    unit sum so that every octave counts alike, as in a CQT; three filters fold onto each
    pitch class. On mu6's decoded dev clips this tracks fidelity.py's chroma with r = 0.98
    (a Gaussian-octave-weighted STFT chroma: r = 0.84, and much more lenient).
    """
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    centres = fmin * 2.0 ** (np.arange(bins_per_octave * octaves) / bins_per_octave)
    step = 2.0 ** (1 / bins_per_octave)
    basis = np.zeros((12, len(freqs)))
    per_class = bins_per_octave // 12
    for k, fc in enumerate(centres):
        half_width = max(fc * (step - 1 / step) / 2, sample_rate / n_fft)
        tri = np.clip(1 - np.abs(freqs - fc) / half_width, 0, None)
        if tri.sum() > 0:
            basis[int(round(k / per_class)) % 12] += tri / tri.sum()
    return torch.from_numpy(basis).float()


def chroma_distance(y: torch.Tensor, x: torch.Tensor, sample_rate: int = 22050, n_fft: int = 8192,
                    hop: int = 512) -> torch.Tensor:
    """(B, samples) each -> mean over the input's sounding frames of 1 - cos(chroma(y), chroma(x)).

    Which notes sound. The log and mel terms average over bins and bands, so they reward a
    decoder that spreads a partial over its neighbours; this term rewards only energy in the
    right pitch class, compared by angle so that it ignores the level. Frames where the
    input is near silence carry no pitch and are left out.
    """
    basis = _chroma_basis(sample_rate, n_fft).to(x.device)
    cy, cx = basis @ _stft_mag(y, n_fft, hop), basis @ _stft_mag(x, n_fft, hop)
    cos = (cy * cx).sum(1) / (cy.norm(dim=1) * cx.norm(dim=1)).clamp(min=1e-8)
    energy = cx.norm(dim=1)
    # 1e-4 sits above what _stft_mag's clamp leaves of digital silence (about 1e-5 here) and far below any
    # audible frame (a -60 dBFS tone has a chroma norm near 1 at this window length).
    sounding = energy > 1e-3 * energy.amax(dim=1, keepdim=True).clamp(min=1e-1)
    if not sounding.any():
        return y.new_zeros(())
    return (1.0 - cos)[sounding].mean()


def clipped_sparsity(z: torch.Tensor, target_density: float) -> torch.Tensor:
    """z (B, N, T). max(0, density - d0): zero once the batch is as sparse as asked."""
    return F.relu(z.mean() - target_density)


def level_density(level: torch.Tensor) -> torch.Tensor:
    """mu (B,) -> S0(mu) / (N*T) = 2^(-mu/4)."""
    return torch.pow(2.0, -level.float() / 4.0)


def level_rate_loss(z: torch.Tensor, level: torch.Tensor, relative: bool = False) -> torch.Tensor:
    """|S - S0(mu)| per example, normalised by N*T, or by S0(mu) when `relative`.

    Normalised by N*T, a miss of a few percent costs the same at every level, which is
    nothing next to the reconstruction gain at the sparse levels (mu >= 20 stalled near
    7 % density against targets of 3 % and below); relative to S0 each level is held
    to its own rate.
    """
    target = level_density(level).to(z.device)
    miss = (z.mean(dim=(1, 2)) - target).abs()
    return (miss / target if relative else miss).mean()


def gamma_schedule(step: int, start: int, ramp: int, gamma_max: float) -> float:
    """The paper's three phases: 0 before `start`, a linear ramp over `ramp` steps, then hold."""
    if step < start:
        return 0.0
    return gamma_max * min(1.0, (step - start + 1) / max(1, ramp))

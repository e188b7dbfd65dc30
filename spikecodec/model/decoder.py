"""Decoder: z (B, N, frames) -> ConvNeXt stack -> STFT magnitude and phase -> overlap-add.

Vocos-style (Siuzdak 2023): everything runs at the frame rate and the waveform is made by
one inverse FFT per frame, which is what makes CPU decoding fast.
"""
import torch
from torch import nn

from .convnext import ConvNeXtStack
from .spectral import overlap_add


class SpectralDecoder(nn.Module):
    """(B, dim, frames) features -> (B, frames*hop) audio."""

    def __init__(self, n_fft: int, hop: int, dim: int, blocks: int, kernel: int = 7):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.stack = ConvNeXtStack(dim, blocks, kernel)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 2 * (n_fft // 2 + 1))
        self.radius = self.stack.radius

    def log_magnitude_and_phase(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, dim, frames) -> natural-log magnitude and phase, each (B, n_fft//2+1, frames)."""
        y = self.head(self.norm(self.stack(h).transpose(1, 2))).transpose(1, 2)
        log_mag, phase = y.chunk(2, dim=1)
        return log_mag.clamp(max=6.0), phase

    def spectrum(self, h: torch.Tensor) -> torch.Tensor:
        """(B, dim, frames) -> complex (B, n_fft//2+1, frames)."""
        log_mag, phase = self.log_magnitude_and_phase(h)
        return torch.polar(torch.exp(log_mag), phase)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return overlap_add(self.spectrum(h), self.n_fft, self.hop)

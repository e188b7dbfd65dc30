"""Encoder: log|STFT| -> ConvNeXt stack at the frame rate -> features h (B, C, frames).

The convolutional encoder of the paper (figure 2A, SEANet) is replaced by a spectral
front end, which trains and runs several times faster on a CPU
(shared/notes/model-calibration.md).
"""
import torch
from torch import nn

from .convnext import ConvNeXtStack
from .spectral import log_magnitude


class SpectralEncoder(nn.Module):
    """(B, frames*hop) audio -> (B, dim, frames) features."""

    def __init__(self, n_fft: int, hop: int, dim: int, blocks: int, kernel: int = 7, stem_kernel: int = 1,
                 floor: float = 1e-5):
        super().__init__()
        self.n_fft, self.hop, self.floor = n_fft, hop, floor
        self.stem = nn.Conv1d(n_fft // 2 + 1, dim, stem_kernel, padding=stem_kernel // 2)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.stack = ConvNeXtStack(dim, blocks, kernel)
        self.radius = stem_kernel // 2 + self.stack.radius

    def forward(self, audio: torch.Tensor, padded: bool = False) -> torch.Tensor:
        x = self.stem(log_magnitude(audio, self.n_fft, self.hop, padded, self.floor))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.stack(x)

"""The binary bottleneck z = H(BN(Linear(h))) (Lisboa & Bellec 2024, section 3).

H is the Heaviside step. Its gradient is replaced by the triangular surrogate
max(0, 1 - |l|) (the pseudo-derivative used for spiking networks), so the encoder
trains end to end through the 0/1 events.
"""
import torch
from torch import nn


class HeavisideSurrogate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits):
        ctx.save_for_backward(logits)
        return (logits > 0).to(logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        (logits,) = ctx.saved_tensors
        return grad * torch.clamp(1.0 - logits.abs(), min=0.0)


def heaviside(logits: torch.Tensor) -> torch.Tensor:
    """(..., N, T) real logits -> same shape in {0, 1}, surrogate gradient."""
    return HeavisideSurrogate.apply(logits)


class BinaryBottleneck(nn.Module):
    """h (B, C, T) -> logits (B, N, T); z = heaviside(logits) in {0, 1} (SpikingAutoencoder.encode_frames)."""

    def __init__(self, channels: int, units: int):
        super().__init__()
        self.proj = nn.Conv1d(channels, units, 1)
        self.norm = nn.BatchNorm1d(units)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(h))

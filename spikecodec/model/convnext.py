"""1-D ConvNeXt blocks at the frame rate (Liu et al. 2022; as used by Vocos, Siuzdak 2023).

Depthwise conv -> LayerNorm -> pointwise MLP (GELU) -> layer scale, residual.
A block with kernel k and dilation d sees (k - 1) * d / 2 frames to each side; the
codec's chunked streaming relies on that finite receptive field.
"""
import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """(B, C, T) -> (B, C, T)."""

    def __init__(self, dim: int, expansion: int = 3, kernel: int = 7, dilation: int = 1,
                 layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=(kernel - 1) * dilation // 2, dilation=dilation, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(expansion * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))
        self.radius = (kernel - 1) * dilation // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """A stack of blocks with a final LayerNorm; (B, C, T) -> (B, C, T)."""

    def __init__(self, dim: int, blocks: int, kernel: int = 7, dilations: tuple[int, ...] | None = None):
        super().__init__()
        dilations = dilations or (1,) * blocks
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, kernel=kernel, dilation=d) for d in dilations[:blocks])
        self.radius = sum(b.radius for b in self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x

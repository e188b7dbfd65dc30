"""Framing shared by the encoder's STFT and the decoder's inverse STFT.

Frame t covers the hop interval [t*hop, (t+1)*hop) and its analysis window is centred on
that interval: samples [t*hop + hop/2 - n_fft/2, t*hop + hop/2 + n_fft/2). So `frames`
frames describe exactly `frames * hop` samples, and a clip of T frames starts at sample
T*hop*k, which is what the container's clip grid assumes.
"""
import torch
import torch.nn.functional as F


def edge_pad(n_fft: int, hop: int) -> int:
    """Samples of padding on each side so that frames line up as described above."""
    return n_fft // 2 - hop // 2


def frame_signal(audio: torch.Tensor, n_fft: int, hop: int, padded: bool = False) -> torch.Tensor:
    """(B, frames*hop) -> (B, frames, n_fft), zero outside the signal.

    padded=True: the caller already added edge_pad real (or zero) samples on each side.
    """
    p = 0 if padded else edge_pad(n_fft, hop)
    return F.pad(audio, (p, p)).unfold(-1, n_fft, hop)


def log_magnitude(audio: torch.Tensor, n_fft: int, hop: int, padded: bool = False) -> torch.Tensor:
    """(B, frames*hop) -> (B, n_fft//2+1, frames) natural-log magnitude."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spec = torch.fft.rfft(frame_signal(audio, n_fft, hop, padded) * window, dim=-1)
    return torch.log(spec.abs().clamp(min=1e-5)).transpose(1, 2)


def overlap_add(spec: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex (B, n_fft//2+1, frames) -> (B, frames*hop) by windowed overlap-add.

    Normalised by the summed squared window, so the inverse of `frame_signal` with a
    Hann window is exact wherever at least one frame covers a sample.
    """
    b, _, frames = spec.shape
    window = torch.hann_window(n_fft, device=spec.device, dtype=spec.real.dtype)
    chunks = torch.fft.irfft(spec.transpose(1, 2), n=n_fft, dim=-1) * window  # (B, frames, n_fft)
    length = (frames - 1) * hop + n_fft
    out = F.fold(chunks.transpose(1, 2), (1, length), (1, n_fft), stride=(1, hop)).reshape(b, length)
    env = F.fold((window ** 2).expand(1, frames, n_fft).transpose(1, 2), (1, length), (1, n_fft),
                 stride=(1, hop)).reshape(1, length)
    p = edge_pad(n_fft, hop)
    return out[:, p:p + frames * hop] / env[:, p:p + frames * hop].clamp(min=1e-8)

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


def log_magnitude(audio: torch.Tensor, n_fft: int, hop: int, padded: bool = False,
                  floor: float = 1e-5) -> torch.Tensor:
    """(B, frames*hop) -> (B, n_fft//2+1, frames) natural-log magnitude, floored at `floor`."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spec = torch.fft.rfft(frame_signal(audio, n_fft, hop, padded) * window, dim=-1)
    return torch.log(spec.abs().clamp(min=floor)).transpose(1, 2)


def _overlap_add_frames(chunks: torch.Tensor, hop: int) -> torch.Tensor:
    """(B, frames, n_fft) -> (B, (frames - 1) * hop + n_fft), each frame added at t * hop.

    With n_fft a multiple of hop (the usual framing) this is n_fft / hop shifted adds, many
    times faster than F.fold's general im2col path; otherwise F.fold does it.
    """
    b, frames, n_fft = chunks.shape
    length = (frames - 1) * hop + n_fft
    if n_fft % hop:
        return F.fold(chunks.transpose(1, 2), (1, length), (1, n_fft), stride=(1, hop)).reshape(b, length)
    k = n_fft // hop
    parts = chunks.reshape(b, frames, k, hop)
    out = chunks.new_zeros(b, frames + k - 1, hop)
    for j in range(k):
        out[:, j:j + frames] += parts[:, :, j]
    return out.reshape(b, length)


def overlap_add(spec: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex (B, n_fft//2+1, frames) -> (B, frames*hop) by windowed overlap-add.

    Normalised by the summed squared window, so the inverse of `frame_signal` with a
    Hann window is exact wherever at least one frame covers a sample.
    """
    frames = spec.shape[-1]
    window = torch.hann_window(n_fft, device=spec.device, dtype=spec.real.dtype)
    chunks = torch.fft.irfft(spec.transpose(1, 2), n=n_fft, dim=-1) * window  # (B, frames, n_fft)
    out = _overlap_add_frames(chunks, hop)
    env = _overlap_add_frames((window ** 2).expand(1, frames, n_fft), hop)
    p = edge_pad(n_fft, hop)
    return out[:, p:p + frames * hop] / env[:, p:p + frames * hop].clamp(min=1e-8)

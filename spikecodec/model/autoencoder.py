"""The spiking auto-encoder: audio -> binary events z in {0,1}^(N x frames) -> audio.

Variants (Lisboa & Bellec 2024, sections 3 and 5):
  * FREE: no sparsity pressure; z is stored dense.
  * SPARSE: context layers around the bottleneck (figure 2B; here dilated ConvNeXt blocks,
    which keep a finite receptive field so long files stream in chunks) and a clipped
    sparsity loss (training/losses.py).
  * mu-SPARSE: a learned embedding of a level mu in 0..31 is added to the encoder output
    and to the decoder input; training pulls the event count S towards N*T*2^(-mu/4).

Phase-coherent decoding (`phase_iterations` > 0): the decoder's magnitudes are given a
consistent phase by fast Griffin-Lim (phase.py), started from the decoder's own phase, or
(`phase_init="peaks"`) from a phase built from the magnitudes' peaks, which keeps the pitch of
low partials that Griffin-Lim leaves at bin centres; that phase accumulates over the signal, and
a window of a longer one continues it (`PhaseCarry`).
Silence (`silence_radius` > 0): digitally silent input emits no events and a stretch
without events decodes to silence (silence.py).

A checkpoint stores `ModelConfig.to_dict()` beside the weights, and `from_config` rebuilds
the model from that alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from .binarize import BinaryBottleneck, heaviside
from .convnext import ConvNeXtStack
from .decoder import SpectralDecoder
from .encoder import SpectralEncoder
from .phase import PhaseCarry, frames_overlapped, griffin_lim, overlap_add_reach, peak_locked_phase
from .silence import active_frames, silent_frames
from .spectral import overlap_add

@dataclass
class ModelConfig:
    sample_rate: int = 22050
    hop: int = 512
    n_fft: int = 2048
    units: int = 80
    encoder_dim: int = 256
    encoder_blocks: int = 4
    decoder_dim: int = 384
    decoder_blocks: int = 8
    context_blocks: int = 0      # SPARSE / mu-SPARSE: dilated blocks on each side of the bottleneck
    context_dilation: int = 2
    num_levels: int = 0          # how many levels mu: 32 for mu-SPARSE, else 0
    default_level: int | None = None
    kernel: int = 7
    stem_kernel: int = 1         # the encoder's first conv over 1025 bins; wider costs 1.8M parameters
    phase_iterations: int = 0    # fast Griffin-Lim iterations after the decoder; 0 = the starting phase only
    phase_momentum: float = 0.99
    phase_init: str = "decoder"  # where phase retrieval starts: "decoder" (its own phase head) or "peaks"
                                 # (phase.peak_locked_phase: each partial's frequency from its peak's shape)
    silence_radius: int = 0      # > 0: silent input emits no events; no event within this many frames = silence
    input_floor: float = 1e-5    # the encoder's floor under |STFT| before the log: it sets how loud quiet and
                                 # empty bands look, and so the decoded level (docs/decoder-ablation.md, 4th round)

    PHASE_INITS = ("decoder", "peaks")

    def __post_init__(self):
        # A checkpoint from a later version may start its phase some other way: decoding it with
        # the decoder's phase would give wrong audio without a word, so refuse it instead.
        if self.phase_init not in self.PHASE_INITS:
            raise ValueError(f"phase_init {self.phase_init!r} is not one of {', '.join(self.PHASE_INITS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    # Keys that checkpoints written before a rename carry: old name -> field.
    LEGACY_KEYS = {"levels": "num_levels"}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """A config from `to_dict` output, also an older one (`LEGACY_KEYS`); unknown keys are ignored."""
        d = {cls.LEGACY_KEYS.get(k, k): v for k, v in d.items()}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class SpikingAutoencoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = self.config = config
        self.encoder = SpectralEncoder(c.n_fft, c.hop, c.encoder_dim, c.encoder_blocks, c.kernel, c.stem_kernel,
                                       c.input_floor)
        dil = (c.context_dilation,) * c.context_blocks
        self.encoder_context = ConvNeXtStack(c.encoder_dim, c.context_blocks, c.kernel, dil)
        self.bottleneck = BinaryBottleneck(c.encoder_dim, c.units)
        self.decoder_in = nn.Conv1d(c.units, c.decoder_dim, c.kernel, padding=c.kernel // 2)
        self.decoder_context = ConvNeXtStack(c.decoder_dim, c.context_blocks, c.kernel, dil)
        self.decoder = SpectralDecoder(c.n_fft, c.hop, c.decoder_dim, c.decoder_blocks, c.kernel)
        if c.num_levels:
            self.encoder_level = nn.Embedding(c.num_levels, c.encoder_dim)
            self.decoder_level = nn.Embedding(c.num_levels, c.decoder_dim)
            nn.init.zeros_(self.encoder_level.weight)
            nn.init.zeros_(self.decoder_level.weight)

    @classmethod
    def from_config(cls, config: dict | ModelConfig) -> "SpikingAutoencoder":
        return cls(config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config))

    # Frames on each side whose input changes a frame's output; chunked streaming pads by these.
    @property
    def encoder_radius(self) -> int:
        return self.encoder.radius + self.encoder_context.radius

    @property
    def decoder_radius(self) -> int:
        """Frames of z on each side that change a frame's output samples.

        The networks' receptive field (or the silence gate's, if wider), plus the frames each
        phase-retrieval iteration couples, plus the windows that overlap-add into the frame.
        """
        c = self.config
        network = c.kernel // 2 + self.decoder_context.radius + self.decoder.radius
        spectrum = max(network, c.silence_radius)
        return (spectrum + c.phase_iterations * frames_overlapped(c.n_fft, c.hop)
                + overlap_add_reach(c.n_fft, c.hop))

    def _level_embedding(self, table: nn.Embedding, level, batch: int, frames: int, device):
        """level: None (the default level), an int, (B,) or per frame (B, frames) -> (B, dim, frames)."""
        if level is None:
            level = self.config.default_level or 0
        lv = torch.as_tensor(level, device=device, dtype=torch.long)
        if lv.dim() == 0:
            lv = lv.expand(batch)
        if lv.dim() == 1:
            lv = lv[:, None].expand(batch, frames)
        return table(lv).transpose(1, 2)

    def encoder_logits(self, audio: torch.Tensor, level=None, padded: bool = False) -> torch.Tensor:
        """(B, frames*hop) audio -> (B, N, frames) pre-threshold logits.

        padded=True: `audio` already holds the analysis-window context on both sides
        (frames*hop + 2*edge_pad samples), as the chunked streaming encoder passes it.
        """
        h = self.encoder(audio, padded)
        if self.config.num_levels:
            h = h + self._level_embedding(self.encoder_level, level, h.shape[0], h.shape[2], h.device)
        logits = self.bottleneck.logits(self.encoder_context(h))
        if self.config.silence_radius:
            silent = silent_frames(audio, self.config.n_fft, self.config.hop, padded)
            logits = logits.masked_fill(silent, -1.0)
        return logits

    def encode_frames(self, audio: torch.Tensor, level=None, padded: bool = False) -> torch.Tensor:
        """(B, frames*hop) -> z (B, N, frames) in {0, 1} (surrogate gradient in training)."""
        return heaviside(self.encoder_logits(audio, level, padded))

    def decode_log_magnitude(self, z: torch.Tensor, level=None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, N, frames) -> log-magnitude and phase (B, n_fft//2+1, frames), before phase retrieval.

        Where the silence gate is on, silent frames have a log-magnitude of -inf.
        """
        h = self.decoder_in(z)
        if self.config.num_levels:
            h = h + self._level_embedding(self.decoder_level, level, h.shape[0], h.shape[2], h.device)
        log_mag, phase = self.decoder.log_magnitude_and_phase(self.decoder_context(h))
        if self.config.silence_radius:
            active = active_frames(z, self.config.silence_radius)
            log_mag = log_mag.masked_fill(active == 0, float("-inf"))
        return log_mag, phase

    def synthesize(self, log_mag: torch.Tensor, phase: torch.Tensor, carry: PhaseCarry | None = None) -> torch.Tensor:
        """Log-magnitude and phase (B, n_fft//2+1, frames) -> (B, frames*hop) audio.

        `carry`: for a window of a longer signal, where the peak-locked phase picks up (streaming).
        """
        c = self.config
        mag = torch.exp(log_mag)
        if c.phase_init == "peaks":
            carry = carry if carry is not None else PhaseCarry()
            phase, carry.accumulated = peak_locked_phase(mag, c.n_fft, c.hop, carry.start, carry.anchor)
        if c.phase_iterations:
            return griffin_lim(mag, phase, c.n_fft, c.hop, c.phase_iterations, c.phase_momentum)
        return overlap_add(torch.polar(mag, phase), c.n_fft, c.hop)

    def decode_frames(self, z: torch.Tensor, level=None, carry: PhaseCarry | None = None) -> torch.Tensor:
        """z (B, N, frames) -> (B, frames*hop) audio."""
        return self.synthesize(*self.decode_log_magnitude(z, level), carry)

    def forward(self, audio: torch.Tensor, level=None) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode_frames(audio, level)
        return self.decode_frames(z, level), z

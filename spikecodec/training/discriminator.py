"""A multi-resolution spectrogram discriminator, for an adversarial fine-tune of the decoder.

Regression losses (L1 of log-magnitudes, mel distances) are met by the conditional median of
an uncertain spectrum, which smears each partial over its neighbours; a discriminator that
tells real spectrograms from decoded ones pushes the decoder towards sharp ones instead.
This is the multi-resolution discriminator of UnivNet (Jang et al. 2021) as used by Vocos
(Siuzdak 2023, section 3.2), cut to a size a CPU trains: a few 2-D convolutions over the
log-magnitude at each resolution, with hinge losses and feature matching (HiFi-GAN, Kong
et al. 2020).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpectrogramDiscriminator(nn.Module):
    """(B, samples) audio -> per-resolution (logits map, [feature maps])."""

    def __init__(self, n_fft: int, channels: int = 8):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList([   # the first layer keeps full frequency resolution: partials are 1-2 bins wide
            nn.Conv2d(1, channels, (7, 3), padding=(3, 1)),
            nn.Conv2d(channels, channels, (5, 3), stride=(2, 1), padding=(2, 1)),
            nn.Conv2d(channels, channels, (5, 3), stride=(4, 2), padding=(2, 1)),
        ])
        self.out = nn.Conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(audio, self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        h = torch.log(spec.abs().clamp(min=1e-5))[:, None]          # (B, 1, bins, frames)
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            features.append(h)
        return self.out(h), features


class MultiResolutionDiscriminator(nn.Module):
    def __init__(self, resolutions=(512, 1024, 2048), channels: int = 8):
        super().__init__()
        self.discriminators = nn.ModuleList([SpectrogramDiscriminator(n, channels) for n in resolutions])

    def forward(self, audio: torch.Tensor):
        return [d(audio) for d in self.discriminators]


def discriminator_loss(disc: MultiResolutionDiscriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator; `fake` is detached here."""
    loss = real.new_zeros(())
    for (lr, _), (lf, _) in zip(disc(real), disc(fake.detach())):
        loss = loss + F.relu(1 - lr).mean() + F.relu(1 + lf).mean()
    return loss


def generator_losses(disc: MultiResolutionDiscriminator, real: torch.Tensor, fake: torch.Tensor):
    """(adversarial hinge loss, feature-matching L1) of the decoder's output against the real audio."""
    adv = fake.new_zeros(())
    fm = fake.new_zeros(())
    with torch.no_grad():
        real_out = disc(real)
    for (lf, ff), (_, fr) in zip(disc(fake), real_out):
        adv = adv + F.relu(1 - lf).mean()
        fm = fm + sum((a - b).abs().mean() for a, b in zip(ff, fr)) / len(ff)
    return adv, fm

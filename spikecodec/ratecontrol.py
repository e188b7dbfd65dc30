"""Rate control: how the sender picks each clip's level mu (mu-models only).

Three ways, at most one per file: a fixed ``level``; ``target_kbps``, the whole file's rate
(all channels, as opusenc's --bitrate), met per clip by the lowest level whose clip fits its
channel's share; ``quality_floor``, the highest level whose decoded clip keeps the log-mel
distance to the input at or under the floor (the paper's mu*, with LMD in place of SI-SNR).
Bits fall and distance rises with mu, so both searches are binary searches over `SEARCH_LEVELS`.

Every check of a rate control lives in `RateControl.validate`; its errors name the field at
fault (`RateControlError.fields`), never a command-line flag: the CLI words those.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .bitstream import FORMAT_VERSION, NUM_LEVELS, record_bits
from .errors import CodecError

# Levels the per-clip searches choose from. Below mu = 8 (target density 25 %) every clip is
# stored dense anyway, so a lower level buys no bits, and quality is not monotone there
# (mu = 0 asks for every unit to fire); from 8 up, bits fall and distance rises with mu.
SEARCH_LEVELS = (8, NUM_LEVELS - 1)

FIELDS = ("level", "target_kbps", "quality_floor")


class RateControlError(CodecError):
    """A rate control that cannot be used. ``problem``: "several" (more than one field given),
    "no_levels" (the model has none), "range" (a value out of its range); ``fields``: the
    RateControl fields at fault, in the order of `FIELDS`."""

    def __init__(self, message: str, problem: str = "range", fields: tuple = ()):
        super().__init__(message)
        self.problem, self.fields = problem, fields


def clip_bits(z_clip: np.ndarray, has_level: bool, version: int = FORMAT_VERSION) -> int:
    """Exact bits of one clip record in its cheapest layout of .spk ``version`` (no group overhead):
    in v2 that may be the entropy-coded ctx layout, whose cost is that of the real code."""
    return record_bits(z_clip, has_level, version)


@dataclass
class RateControl:
    """How the sender picks each clip's level mu (mu-models only); see the module's docstring."""
    level: int | None = None
    target_kbps: float | None = None
    quality_floor: float | None = None

    @property
    def given(self) -> tuple:
        """The fields set, in the order of `FIELDS`."""
        return tuple(n for n in FIELDS if getattr(self, n) is not None)

    @property
    def searches(self) -> bool:
        """Whether each clip's level is searched for (target_kbps or quality_floor)."""
        return self.level is None and (self.target_kbps is not None or self.quality_floor is not None)

    def validate(self, model=None) -> None:
        """Raise `RateControlError` for a rate control that cannot be used; with ``model`` (a
        LoadedModel) also for one that model cannot take. Without it, only what needs no model."""
        given = self.given
        if len(given) > 1:
            raise RateControlError(f"give at most one of {', '.join(FIELDS[:-1])} and {FIELDS[-1]}", "several", given)
        if self.level is not None and not 0 <= self.level < NUM_LEVELS:
            raise RateControlError(f"level must be in 0..{NUM_LEVELS - 1}", "range", ("level",))
        if self.target_kbps is not None and not self.target_kbps > 0:
            raise RateControlError("target bit-rate must be positive", "range", ("target_kbps",))
        if self.quality_floor is not None and not self.quality_floor > 0:
            raise RateControlError("quality floor must be a positive log-mel distance", "range", ("quality_floor",))
        if model is None:
            return
        num_levels = model.config.num_levels
        if given and not num_levels:
            raise RateControlError(f"model {model.name!r} has no bit-rate levels; {given[0]} needs a mu model",
                                   "no_levels", given)
        if self.level is not None and not self.level < num_levels:
            raise RateControlError(f"level must be in 0..{num_levels - 1}", "range", ("level",))

    def fixed_level(self, config) -> int | None:
        """The level every clip is coded at when there is no search (None for a model without levels)."""
        if not config.num_levels:
            return None
        return self.level if self.level is not None else (config.default_level or 0)


def lowest_level(fits: Callable[[int], bool], highest: int) -> int:
    """The lowest level in SEARCH_LEVELS (at most ``highest``) for which ``fits`` holds (it holds from
    some level up), or ``highest`` when none does."""
    lo, hi = SEARCH_LEVELS[0], min(SEARCH_LEVELS[1], highest)
    if not fits(hi):
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return lo


def highest_level(passes: Callable[[int], bool], highest: int) -> int:
    """The highest level in SEARCH_LEVELS (at most ``highest``) for which ``passes`` holds (it holds up
    to some level), or the lowest when none does."""
    lo, hi = SEARCH_LEVELS[0], min(SEARCH_LEVELS[1], highest)
    if not passes(lo):
        return lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if passes(mid) else (lo, mid - 1)
    return lo


def clip_budget_bits(target_kbps: float, frames: int, hop: int, sample_rate: int, channels: int) -> float:
    """One channel's share of a ``target_kbps`` file rate over a clip of ``frames`` frames."""
    return target_kbps * 1000 * frames * hop / sample_rate / channels


def clip_distance(model, z: np.ndarray, mu: int, ref: np.ndarray) -> float:
    """Log-mel distance between ``ref`` (a clip's input at the model rate) and the clip's z (N, frames)
    decoded alone at level ``mu``."""
    import torch

    from .metrics import log_mel_distance
    with torch.inference_mode():
        zt = torch.from_numpy(z[None].astype(np.float32)).to(model.device)
        y = model.net.decode_frames(zt, torch.tensor([mu], device=zt.device))[0].cpu().numpy()
    return log_mel_distance(y[:len(ref)], ref, model.config.sample_rate)


def search_level(rate: RateControl, model, z_at: Callable[[int], np.ndarray], ref: np.ndarray, frames: int,
                 channels: int, version: int = FORMAT_VERSION) -> tuple:
    """(z, mu) of one channel's clip under a searching rate control. ``z_at(mu)``: the clip's z (N, frames)
    at level mu; ``ref``: the clip's input at the model rate (for quality_floor); ``channels``: the file's,
    which share target_kbps."""
    c = model.config
    highest = c.num_levels - 1
    if rate.target_kbps is not None:
        budget = clip_budget_bits(rate.target_kbps, frames, c.hop, c.sample_rate, channels)

        def fits(mu: int) -> bool:
            return clip_bits(z_at(mu), True, version) <= budget
        mu = lowest_level(fits, highest)
    else:
        floor = rate.quality_floor
        assert floor is not None, "search_level needs target_kbps or quality_floor"

        def passes(mu: int) -> bool:
            return clip_distance(model, z_at(mu), mu, ref) <= floor
        mu = highest_level(passes, highest)
    return z_at(mu), mu


__all__ = ["RateControl", "RateControlError", "SEARCH_LEVELS", "clip_bits", "clip_budget_bits", "clip_distance",
           "highest_level", "lowest_level", "search_level"]

"""Where a model runs: the one place "auto" becomes a torch device.

Used by load_model, the command lines and training. Torch is imported only when the answer
depends on it ("cpu" needs none, so `--device cpu` costs nothing).
"""
from __future__ import annotations

from .errors import CodecError

DEVICES = ("auto", "cpu", "cuda")   # what the command lines offer; "cuda:N" is accepted too


class DeviceError(CodecError):
    """A device that is unknown or not available here."""


def resolve_device(device: str | None = "auto") -> str:
    """"auto" (or None) -> "cuda" when torch sees a CUDA device, else "cpu"; "cpu" as is; "cuda"
    (or "cuda:N") only when torch sees one, else DeviceError."""
    device = device or "auto"
    if device == "cpu":
        return "cpu"
    if device != "auto" and device != "cuda" and not device.startswith("cuda:"):
        raise DeviceError(f"unknown device {device!r} (auto, cpu or cuda)")
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DeviceError("no CUDA device is available to torch")
    return device


__all__ = ["DEVICES", "DeviceError", "resolve_device"]

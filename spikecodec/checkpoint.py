"""Checkpoints: weights-only files that carry the config that rebuilds their model.

File: a `torch.save` dict {"spikecodec_checkpoint": 1, "name", "config", "state_dict", "meta"}
with fp16 tensors, read back with `torch.load(weights_only=True)` (no pickled objects).
A checkpoint's identity (`model_id`) is the first 16 hex digits of the SHA-256 of its file;
a .spk file records it, so a decoder facing an unknown model can name the one it needs.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from .errors import CodecError

FORMAT_KEY = "spikecodec_checkpoint"
DEFAULT_MODEL = "mu"
ALIASES = {"default": DEFAULT_MODEL}


def checkpoints_dir() -> str:
    env = os.environ.get("SPIKECODEC_CHECKPOINTS")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints")


def resolve(name_or_path: str | None) -> str:
    """A model name ("default", "free", "sparse", "mu") or a path -> the checkpoint path."""
    name = name_or_path or "default"
    if os.sep in name or name.endswith(".pt") or os.path.exists(name):
        path = name
    else:
        path = os.path.join(checkpoints_dir(), ALIASES.get(name, name) + ".pt")
    if not os.path.isfile(path):
        known = sorted(n[:-3] for n in os.listdir(checkpoints_dir()) if n.endswith(".pt")) \
            if os.path.isdir(checkpoints_dir()) else []
        raise CodecError(f"unknown model {name!r} (known: {', '.join(['default'] + known) or 'none'})")
    return path


def file_id(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_checkpoint(path: str, name: str, config: dict, state_dict: dict, meta: dict | None = None) -> str:
    """Write atomically with fp16 weights (BatchNorm statistics too); returns the model id."""
    import torch
    sd = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()) for k, v in state_dict.items()}
    blob = {FORMAT_KEY: 1, "name": name, "config": dict(config), "state_dict": sd, "meta": dict(meta or {})}
    tmp = path + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return file_id(path)


def read_checkpoint(path: str) -> dict:
    import torch
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CodecError(f"{path}: not a spikecodec checkpoint ({type(e).__name__})") from None
    if not isinstance(blob, dict) or blob.get(FORMAT_KEY) != 1:
        raise CodecError(f"{path}: not a spikecodec checkpoint")
    return blob


@dataclass
class LoadedModel:
    """A ready-to-run model: `net` is a SpikingAutoencoder in eval mode on `device`."""
    net: object
    name: str
    model_id: str
    path: str
    device: str
    meta: dict

    @property
    def config(self):
        return self.net.config


def pick_device(device: str | None) -> str:
    import torch
    device = device or "auto"
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise CodecError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if device not in ("cpu", "cuda"):
        raise CodecError(f"unknown device {device!r} (auto, cpu or cuda)")
    return device


def load_model(name_or_path: str | None = None, device: str | None = "auto") -> LoadedModel:
    """Load a shipped model by name ("default", "free", "sparse", "mu") or a checkpoint path."""
    import torch
    from .model import SpikingAutoencoder
    path = resolve(name_or_path)
    blob = read_checkpoint(path)
    net = SpikingAutoencoder.from_config(blob["config"])
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    except RuntimeError as e:
        raise CodecError(f"{path}: weights do not match their config ({str(e).splitlines()[0]})") from None
    dev = pick_device(device)
    torch.set_flush_denormal(True)
    net.eval().to(dev)
    return LoadedModel(net=net, name=str(blob["name"]), model_id=file_id(path), path=path, device=dev,
                       meta=dict(blob.get("meta", {})))

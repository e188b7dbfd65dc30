"""spikecodec: an event-based neural audio codec (Lisboa & Bellec 2024).

    import spikecodec
    data = spikecodec.encode(audio, 44100)          # -> .spk bytes
    audio, rate = spikecodec.decode(data)
    model = spikecodec.load_model("default")

Torch is imported only when a model is needed, so reading .spk files stays fast.
"""
from .errors import CodecError, EditError, InputError, SpikecodecError, SpkFormatError

__version__ = "0.1.0"

_LAZY = {
    "encode": "compress", "decode": "compress", "encode_file": "compress", "decode_file": "compress",
    "load_model": "checkpoint",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'spikecodec' has no attribute {name!r}")


__all__ = ["encode", "decode", "encode_file", "decode_file", "load_model", "SpikecodecError", "CodecError",
           "SpkFormatError", "EditError", "InputError"]

"""The bitstream layer's one exception, from spikecodec.errors (its own module so that layouts.py
and ctx.py can share it without importing the container)."""
from ..errors import SpkFormatError

__all__ = ["SpkFormatError"]

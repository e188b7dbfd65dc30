"""The bitstream layer's one exception (its own module so that layouts.py and ctx.py can share it)."""


class SpkFormatError(ValueError):
    """Bad, truncated or unsupported .spk bytes (the only exception readers raise)."""

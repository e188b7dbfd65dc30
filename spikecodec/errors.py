"""spikecodec's exceptions: one hierarchy, so that a caller (the CLI) can tell a user's error from a bug by type.

    SpikecodecError               every error spikecodec raises on purpose; its message is one line for a user
    ├── CodecError                bad audio, unknown model, impossible option (the Python API)
    ├── SpkFormatError            bad, truncated or unsupported .spk bytes (also a ValueError)
    ├── EditError                 an impossible edit of a file's events (also a ValueError)
    └── InputError                one input or output of a command cannot be processed (the CLI)

Messages never name command-line flags: the CLI adds those. This module imports nothing,
so every layer (the torch-free bitstream included) may use it.
"""


class SpikecodecError(Exception):
    """An expected failure: the message is shown to the user as is (one line, no traceback)."""


class CodecError(SpikecodecError):
    """Bad input, unknown model, impossible option: the message is shown to the user as is."""


class SpkFormatError(SpikecodecError, ValueError):
    """Bad, truncated or unsupported .spk bytes (the only exception .spk readers raise)."""


class EditError(SpikecodecError, ValueError):
    """An edit that cannot be applied (bad range, incompatible files, unknown unit)."""


class InputError(SpikecodecError):
    """An expected failure of one input (or output) of a command, with a ready one-line reason."""


__all__ = ["SpikecodecError", "CodecError", "SpkFormatError", "EditError", "InputError"]

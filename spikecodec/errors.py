"""The user-facing error: one line, no traceback, non-zero exit status in the CLI."""


class CodecError(Exception):
    """Bad input, unknown model, impossible option: the message is shown to the user as is."""

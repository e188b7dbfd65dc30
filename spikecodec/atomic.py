"""Atomic file writes: the one helper every writer of a finished file uses (the command lines'
outputs, checkpoints, training state, the corpus).

The data goes to a temporary file beside the destination (same folder, so the same file
system), is flushed to disk, and only then takes the destination's name. A failure or an
interrupt at any point removes the temporary file and leaves the destination as it was.
Standard library only: every layer may use it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator


def umask() -> int:
    """The process's umask (read without changing it for longer than the call)."""
    m = os.umask(0o022)
    os.umask(m)
    return m


@contextlib.contextmanager
def atomic_write(path, replace: bool = True) -> Iterator[IO[bytes]]:
    """Open a temporary binary file beside ``path``; on success it becomes ``path``.

    ``replace``: an existing ``path`` is replaced (os.replace). Without it, ``path`` is never
    replaced, even by a file that appeared while we were writing: FileExistsError (a hard link
    claims the name, so there is no check-then-write race). The file gets the permissions a
    newly created file would (0666 less the umask). Creating the temporary file can raise
    OSError before anything is yielded.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if os.path.exists(path):
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = ["atomic_write", "umask"]

"""Machinery shared by the command lines (``spikecodec/cli.py``, ``spikecodec/events/cli.py``).

One-line error messages, the guard that turns an unexpected exception into one
line and exit 1, and atomic output files. Cheap imports only (no torch, no
numpy): ``spikecodec info`` imports this.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from pathlib import Path
from typing import IO, Iterator, Optional

import click

from spikecodec.atomic import atomic_write
from spikecodec.errors import InputError, SpikecodecError

PROG = "spikecodec"


# --------------------------------------------------------------------------- messages

def err(msg: str) -> None:
    click.echo(f"{PROG}: error: {msg}", err=True)


def warn(msg: str) -> None:
    click.echo(f"{PROG}: warning: {msg}", err=True)


def usage_error_line(e: "click.ClickException") -> str:
    """A click usage error as the one line ``spikecodec: error: <message> (see '<command> --help')``
    (click itself prints a Usage / Try / Error block)."""
    msg = one_line(e.format_message()).rstrip(".")
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return f"{PROG}: error: {msg}"


def show_click_error(e: "click.ClickException") -> None:
    """Print a click exception: the group's help when run with no arguments, else one line."""
    if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        e.show()
    else:
        click.echo(usage_error_line(e), err=True)


def one_line(text) -> str:
    return "; ".join(s.strip() for s in str(text).splitlines() if s.strip())


def _expected_types() -> tuple:
    """spikecodec's own errors, the OS's, and (when it is loaded: only then can it have raised)
    libsndfile's, which name a bad audio file. ValueError stays a user error: numpy and soundfile
    raise it for bad inputs too."""
    types: tuple = (SpikecodecError, OSError, ValueError, EOFError)
    soundfile = sys.modules.get("soundfile")
    if soundfile is not None and hasattr(soundfile, "SoundFileError"):
        types += (soundfile.SoundFileError,)
    return types


def is_expected(exc: BaseException) -> bool:
    """A user-facing error (bad input, bad file, unknown model), not a bug."""
    return isinstance(exc, _expected_types())


def reason(exc: BaseException, with_filename: bool = True) -> str:
    """One line explaining ``exc`` to a user (an OSError's file name appended if ``with_filename``)."""
    if isinstance(exc, OSError) and exc.strerror:
        r = exc.strerror[0].lower() + exc.strerror[1:]
        if with_filename and exc.filename is not None:
            r += f": {exc.filename}"
        return r
    text = one_line(exc)
    if not is_expected(exc):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        text += " (internal error; run with -v for a traceback)"
    return text or type(exc).__name__


def silence_stdout() -> None:
    """Point stdout at /dev/null (after a broken pipe, so the final flush cannot fail)."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def guard(fn):
    """Decorator for click commands: the last line of defence inside a command.

    Usage errors pass through to click (exit 2); an :class:`InputError` is one line and
    exit 1; an interrupt is exit 130; a broken pipe exits 1 quietly; any other exception
    is one line and exit 1, with a traceback when the command was given ``verbose``.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except InputError as e:
            err(str(e))
            raise click.exceptions.Exit(1) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise click.exceptions.Exit(130) from None
        except BrokenPipeError:
            silence_stdout()
            raise click.exceptions.Exit(1) from None
        except Exception as e:  # noqa: BLE001 -- never a traceback unless -v
            if kwargs.get("verbose"):
                traceback.print_exc()
            err(reason(e))
            raise click.exceptions.Exit(1) from None

    return wrapper


# --------------------------------------------------------------------------- atomic output

@contextlib.contextmanager
def atomic_output(path, force: bool, exists: Optional[str] = None,
                  label: Optional[str] = None) -> Iterator[IO[bytes]]:
    """A command's output file, written atomically (spikecodec.atomic.atomic_write).

    On any exception (KeyboardInterrupt included) the temporary file is removed
    and ``path`` is untouched. Without ``force`` an existing ``path`` is never
    replaced, even if it appeared while we were writing: :class:`InputError`
    ``exists`` is raised. When ``label`` is given, failing to create the temporary
    file is an :class:`InputError` ``<label>: <reason>``; otherwise the OSError
    propagates.
    """
    path = Path(path)
    if exists is None:
        exists = f"{path} already exists (use -f to overwrite, or -o to choose another name)"
    if path.is_dir():
        raise InputError(f"{path} is a folder")
    if path.exists() and not force:
        raise InputError(exists)
    opened = False
    try:
        with atomic_write(path, replace=force) as f:
            opened = True
            yield f
    except FileExistsError:
        if not opened:
            raise
        raise InputError(exists) from None
    except OSError as e:
        if opened or label is None:
            raise
        raise InputError(f"{label}: {reason(e, with_filename=False)}") from None

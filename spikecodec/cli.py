"""The ``spikecodec`` command line: ``encode``, ``decode`` and ``info``.

Built on the public Python API only (``spikecodec.encode_file``, ``decode_file``,
``load_model``, ``CodecError``) and, for ``info`` and damage reports, on the
torch-free bitstream (``spikecodec.bitstream``). ``info`` never imports torch.

Conventions (those of gzip/flac/opusenc where nothing else is said):

* Errors are one line on stderr, ``spikecodec: error: <path>: <reason>``; every
  other input is still processed. Exit status: 0 all succeeded, 1 some input
  failed (or a decoded file was damaged), 2 usage error, 130 interrupted.
* Outputs are written to a temporary file in the destination folder and moved
  into place (``os.replace``) only once complete, so a failed or interrupted
  run leaves no partial ``.spk``/``.wav`` behind. An existing file is never
  replaced without ``-f``.
* ``-`` is standard input/output. Binary data is never written to a terminal.
* Progress bars (tqdm) go to stderr only when stderr is a terminal; nothing
  else is printed on stderr except errors, unless ``-v``.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import click

from spikecodec.audio import MAX_RATE, MIN_RATE
from spikecodec.bitstream import NUM_LEVELS
from spikecodec.clitools import (PROG, InputError, atomic_output, err, guard, reason, show_click_error,
                                 silence_stdout, warn)
from spikecodec.device import DEVICES

__all__ = ["cli", "main", "InputError", "atomic_output"]

#: Extensions picked up when a folder is given to ``encode`` (what libsndfile reads).
AUDIO_EXTS = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .aif .aiff .aifc .au .snd .caf .w64 .rf64 "
    ".voc .sd2 .htk .nist .sph .ircam .sf .paf .avr .wve .mpc .xi .pvf .mat".split()
)
SPK_EXT = ".spk"
DECODE_FORMATS = ("wav", "flac")
#: --target-kbps is the whole file's rate (all channels, container included); a file more than
#: this fraction over it draws a warning (the per-clip search meets the target on the clips' own
#: bits; the file and group headers add a little).
TARGET_SLACK = 0.05

_VERBOSE = False  # set by the commands; read by main()'s last-resort handler


# --------------------------------------------------------------------------- jobs

@dataclass
class Job:
    src: str  # a path, or "-" for standard input
    dst: str  # a path, or "-" for standard output
    data: Optional[bytes] = None  # standard input, read by the main process


@dataclass
class Result:
    src: str
    dst: str
    ok: bool
    error: str = ""  # one line when not ok
    detail: str = ""  # for -v
    warning: str = ""  # one line on stderr (unless -q) even when ok
    output_written: bool = False
    traceback: str = ""


@dataclass
class Options:
    model: Optional[str] = None
    device: str = "auto"
    force: bool = False
    verbose: bool = False
    # encode
    level: Optional[int] = None
    quality_floor: Optional[float] = None
    target_kbps: Optional[float] = None
    spk_version: int = 2
    # decode
    sample_rate: Optional[int] = None
    format: Optional[str] = None
    float_out: bool = False
    ray: Optional[str] = None  # --ray ADDRESS: run the file jobs on Ray workers (spikecodec/batch.py)
    ray_workers: int = 0  # -j N given with --ray: N workers; 0 = one per CPU (GPU) of the cluster


#: Set by _execute when files are coded one after the other with stderr on a terminal: each
#: file then gets its own percentage bar (as flac shows), not only the count of files done.
_FILE_PROGRESS = False


def _bar_size() -> dict:
    """{} (tqdm follows the terminal's size), or 80x24 where the terminal reports none (a 0x0 pty,
    on which tqdm prints nothing)."""
    try:
        if os.get_terminal_size(sys.stderr.fileno()).columns > 0:
            return {}
    except (OSError, ValueError):
        pass
    return {"ncols": 80, "nrows": 24}


class _FileProgress:
    """A per-file percentage bar on stderr (tqdm), or nothing; a callable progress(n_samples)."""

    def __init__(self, name: str, total: Optional[int], rate: int):
        self.bar = None
        if _FILE_PROGRESS and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=name, file=sys.stderr, leave=False, mininterval=0.2,
                            bar_format="{desc}: {percentage:3.0f}% |{bar}| {elapsed}<{remaining}", **_bar_size())

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _api():
    import spikecodec  # torch is imported lazily by the package, on first use of the API

    return spikecodec


_MODELS: dict = {}


def _get_model(spec: str, device: str):
    key = (spec, device)
    if key not in _MODELS:
        _MODELS[key] = _api().load_model(spec, device=device)
    return _MODELS[key]


def _stdout():
    return getattr(sys.stdout, "buffer", sys.stdout)


def _stdin():
    return getattr(sys.stdin, "buffer", sys.stdin)


def _read_input(job: Job) -> bytes:
    if job.src == "-":
        return job.data if job.data is not None else b""
    p = Path(job.src)
    if p.is_dir():
        raise InputError("is a folder")
    return p.read_bytes()


def _encode_one(job: Job, opts: Options) -> Result:
    from spikecodec.bitstream import inspect_spk

    api = _api()
    model = _get_model(opts.model or "default", opts.device)
    if job.src == "-":
        src: Any = io.BytesIO(job.data or b"")
    else:
        p = Path(job.src)
        if not p.exists():
            raise InputError("no such file or directory")
        if p.is_dir():
            raise InputError("is a folder")
        src = str(p)
    kwargs: dict = {"model": model, "device": opts.device}
    if opts.level is not None:
        kwargs["level"] = opts.level
    if opts.quality_floor is not None:
        kwargs["quality_floor"] = opts.quality_floor
    if opts.target_kbps is not None:
        kwargs["target_kbps"] = opts.target_kbps
    if opts.spk_version != 2:
        kwargs["spk_version"] = opts.spk_version
    buf = io.BytesIO()
    total = None
    if _FILE_PROGRESS and job.src != "-":
        with contextlib.suppress(Exception):
            import soundfile

            total = soundfile.info(str(src)).frames
    progress = _FileProgress(f"encode {job.src}", total, 0)
    try:
        api.encode_file(src, buf, progress=progress, **kwargs)
    finally:
        progress.close()
    data = buf.getvalue()
    if not data:
        raise InputError("the encoder produced no data")
    _write_output(job.dst, data, opts.force)
    detail = f"{len(data)} bytes"
    warning = ""
    with contextlib.suppress(Exception):
        info = inspect_spk(data)
        detail = (
            f"{info.header.channels} ch, {info.header.source_sample_rate} Hz, "
            f"{info.duration_s:.2f} s, {len(data)} bytes, {info.bitrate_kbps:.2f} kbps"
        )
        if opts.target_kbps is not None and info.bitrate_kbps > opts.target_kbps * (1 + TARGET_SLACK):
            warning = _target_warning(opts.target_kbps, info, len(data))
    return Result(job.src, job.dst, True, detail=detail, output_written=True, warning=warning)


def _target_warning(target: float, info, size: int) -> str:
    """Why --target-kbps was not reached: the sparsest level is still too dense, or (a short
    file) the container's own headers are a large part of the rate."""
    msg = f"--target-kbps {target:g} not reached: the file is {info.bitrate_kbps:.2f} kbps"
    parts = getattr(info, "bits_by_part", None) or {}
    clip_bits = int(parts.get("payload", 0)) + int(parts.get("clip_headers", 0))
    dur = info.duration_s or 0.0
    if parts and dur > 0:
        headers_kbps = (8 * size - clip_bits) / dur / 1000
        if clip_bits / dur / 1000 <= target * (1 + TARGET_SLACK):
            return msg + f", {headers_kbps:.2f} kbps of it the container's headers (a short file)"
    return msg + ", the least this model codes it in"


def _write_output(dst: str, data: bytes, force: bool) -> None:
    if dst == "-":
        out = _stdout()
        out.write(data)
        out.flush()
        return
    with atomic_output(Path(dst), force) as f:
        f.write(data)


def _damage_ranges(damaged) -> str:
    """Lost clips as time ranges per channel, adjacent clips merged into one range
    ("ch0 12.00-283.00 s" rather than one entry per clip)."""
    runs: list = []  # [channel, last clip, start, end]
    for ch, clip, start, end in sorted(damaged, key=lambda d: (d[0], d[1])):
        if runs and runs[-1][0] == ch and clip == runs[-1][1] + 1:
            runs[-1][1], runs[-1][3] = clip, end
        else:
            runs.append([ch, clip, start, end])
    return ", ".join(f"ch{ch} {start:.2f}-{end:.2f} s" for ch, _, start, end in runs)


def _decode_model(header, opts: Options):
    """The model to decode with: --model if given, else the installed one with the file's model id."""
    if opts.model:
        return _get_model(opts.model, opts.device)
    try:
        return _get_model(header.model_id, opts.device)
    except Exception:  # noqa: BLE001 -- the API looks it up again and explains what is missing
        return None


def _decode_one(job: Job, opts: Options) -> Result:
    from spikecodec.bitstream import read_spk
    from spikecodec.compress import output_length

    api = _api()
    data = _read_input(job)
    if not data:
        raise InputError("empty file (not a .spk)")
    spk = read_spk(data)  # raises SpkFormatError on bad bytes; reports lost clips
    damaged = list(getattr(spk, "damaged", None) or [])
    header = spk.header
    fmt = opts.format or _format_for(job.dst) or "wav"
    model = _decode_model(header, opts)
    kwargs: dict = {"format": fmt, "model": model, "device": opts.device}
    if opts.sample_rate is not None:
        kwargs["sample_rate"] = opts.sample_rate
    if opts.float_out:
        kwargs["subtype"] = "FLOAT"
    sr = opts.sample_rate or header.source_sample_rate
    n = output_length(header, sr)
    progress = _FileProgress(f"decode {job.src}", n, sr)
    kwargs["progress"] = progress
    try:
        if job.dst == "-":
            buf = io.BytesIO()
            decoded = api.decode_file(spk, buf, **kwargs)
            _write_output("-", buf.getvalue(), opts.force)
        else:
            with atomic_output(Path(job.dst), opts.force) as f:
                decoded = api.decode_file(spk, f, **kwargs)
    finally:
        progress.close()
    if decoded is not None and hasattr(decoded, "damaged"):
        damaged = list(decoded.damaged or [])
    sample_fmt = "float" if opts.float_out else ("24-bit" if fmt == "flac" else "16-bit")
    detail = (f"{header.channels} ch, {sr} Hz, {n} samples ({header.num_samples / header.source_sample_rate:.2f} s), "
              f"{fmt} {sample_fmt}")
    stats = getattr(decoded, "output_stats", None) or {}
    if stats.get("limited"):
        detail += (f", {stats['limited']} samples over -1 dBFS soft-limited "
                   f"(peak {20 * math.log10(max(stats['peak'], 1e-9)):+.1f} dBFS; --float keeps them)")
    if damaged:
        return Result(
            job.src, job.dst, False, output_written=True, detail=detail,
            error=(f"damaged: {len(damaged)} clip(s) lost, silenced in the output "
                   f"({_damage_ranges(damaged)}); the rest was written to {_show(job.dst)}"),
        )
    return Result(job.src, job.dst, True, detail=detail, output_written=True)


def _format_for(dst: str) -> Optional[str]:
    if dst == "-":
        return None
    ext = Path(dst).suffix.lower().lstrip(".")
    return ext if ext in DECODE_FORMATS else None


def _run(kind: str, job: Job, opts: Options) -> Result:
    """Run one job and turn every failure into a Result (used in-process and in workers)."""
    fn = _encode_one if kind == "encode" else _decode_one
    try:
        return fn(job, opts)
    except InputError as e:
        return Result(job.src, job.dst, False, error=str(e))
    except Exception as e:  # noqa: BLE001 -- one line per input, never a traceback
        tb = traceback.format_exc() if opts.verbose else ""
        return Result(job.src, job.dst, False, error=reason(e), traceback=tb)


class Terminated(BaseException):
    """SIGTERM/SIGHUP: unwinds like Ctrl-C (temporary outputs removed), exit status 128 + signal.

    A BaseException, so the per-input error handling does not turn it into one failed input."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


def _catch_termination() -> None:
    """Make SIGTERM (kill, timeout, systemctl stop, job schedulers) and SIGHUP clean up as SIGINT does."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, _raise_terminated)


def _worker_init(threads: int) -> None:
    _catch_termination()
    import torch

    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _show(p: str) -> str:
    return "<stdout>" if p == "-" else p


def _execute(kind: str, jobs: list, opts: Options, n_workers: int, quiet: bool) -> list:
    """Run all jobs, with a progress bar on a terminal and -v detail; returns Results."""
    results: list = []
    use_bar = (not quiet) and len(jobs) > 1 and sys.stderr.isatty()
    bar = None
    if use_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=kind, unit="file", file=sys.stderr, leave=False, **_bar_size())

    def report(r: Result) -> None:
        results.append(r)
        src = "<stdin>" if r.src == "-" else r.src
        if r.warning and not quiet:
            line = f"{PROG}: warning: {src}: {r.warning}"
            (bar.write(line, file=sys.stderr) if bar else click.echo(line, err=True))
        if r.ok and opts.verbose:
            line = f"{PROG}: {kind}d {src} -> {_show(r.dst)} ({r.detail})"
            (bar.write(line, file=sys.stderr) if bar else click.echo(line, err=True))
        elif not r.ok:
            if r.traceback:
                click.echo(r.traceback.rstrip(), err=True)
            msg = f"{PROG}: error: {src}: {r.error}"
            (bar.write(msg, file=sys.stderr) if bar else click.echo(msg, err=True))
        if bar:
            bar.update(1)

    parallel = n_workers > 1 and sum(1 for j in jobs if j.src != "-") > 1
    global _FILE_PROGRESS
    _FILE_PROGRESS = (not quiet) and (not parallel) and sys.stderr.isatty()
    try:
        if opts.ray is not None:
            from spikecodec.batch import run_jobs

            def note(msg: str) -> None:
                line = f"{PROG}: {msg}"
                (bar.write(line, file=sys.stderr) if bar else click.echo(line, err=True))

            for r in run_jobs(kind, jobs, opts, None if opts.ray == "local" else opts.ray, opts.ray_workers,
                              log=None if quiet else (lambda m: note(f"warning: {m}")),
                              info=(lambda m: note(m)) if opts.verbose else None):
                report(r)
        elif not parallel:
            for job in jobs:
                report(_run(kind, job, opts))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            threads = max(1, (os.cpu_count() or 1) // n_workers)
            ctx = multiprocessing.get_context("spawn")  # no fork after torch
            stdin_jobs = [j for j in jobs if j.src == "-"]
            file_jobs = [j for j in jobs if j.src != "-"]
            for job in stdin_jobs:
                report(_run(kind, job, opts))
            with ProcessPoolExecutor(max_workers=min(n_workers, len(file_jobs)), mp_context=ctx,
                                     initializer=_worker_init, initargs=(threads,)) as pool:
                futures = {pool.submit(_run, kind, job, opts): job for job in file_jobs}
                try:
                    for fut in as_completed(futures):
                        job = futures[fut]
                        try:
                            report(fut.result())
                        except Exception as e:  # noqa: BLE001 -- a worker died
                            report(Result(job.src, job.dst, False, error=reason(e)))
                except BaseException as e:
                    for f in futures:
                        f.cancel()
                    if isinstance(e, Terminated):  # pass it on: workers remove their temporary outputs
                        for proc in list(getattr(pool, "_processes", {}).values()):
                            with contextlib.suppress(Exception):
                                proc.terminate()
                    raise
    finally:
        _FILE_PROGRESS = False
        if bar:
            bar.close()
    return results


def _finish(results: list, failures: list, quiet: bool) -> int:
    names = [src for src, _ in failures] + [r.src for r in results if not r.ok]
    total = len(failures) + len(results)
    if names:
        if total > 1:
            shown = ", ".join("<stdin>" if n == "-" else n for n in names)
            err(f"{len(names)} of {total} inputs failed: {shown}")
        return 1
    return 0


# --------------------------------------------------------------------------- planning

def _spk_name(p: Path) -> str:
    return p.with_suffix(SPK_EXT).name if p.suffix else p.name + SPK_EXT


def _audio_name(ext: str) -> Callable[[Path], str]:
    return lambda p: p.with_suffix(ext).name if p.suffix.lower() == SPK_EXT else p.name + ext


def _walk(folder: Path, exts) -> list:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in exts:
                found.append(Path(root) / name)
    return found


def _plan(
    inputs: tuple, output: Optional[str], output_dir: Optional[str], exts, out_name: Callable[[Path], str],
) -> tuple:
    """Expand inputs into Jobs; returns (jobs, [(src, reason)] failures, [warnings])."""
    jobs: list = []
    failures: list = []
    warnings: list = []
    outdir = Path(output_dir) if output_dir else None
    seen: dict = {}

    def add(src: str, dst: str) -> None:
        if dst != "-":
            key = os.path.abspath(dst)
            if src != "-" and os.path.abspath(src) == key:
                failures.append((src, "the output would overwrite the input"))
                return
            if key in seen:
                failures.append((src, f"{dst} is also the output of {seen[key]}"))
                return
            seen[key] = src
        jobs.append(Job(src, dst))

    for inp in inputs:
        if inp == "-":
            if output is not None:
                add("-", output)
            elif outdir is not None:
                add("-", str(outdir / out_name(Path("stdin"))))
            else:
                add("-", "-")
            continue
        p = Path(inp)
        if not p.exists():
            failures.append((inp, "no such file or directory"))
        elif p.is_dir():
            files = _walk(p, exts)
            if not files:
                warnings.append(f"{inp}: no {'/'.join(sorted(exts)) if len(exts) < 3 else 'audio'} files found")
            for f in files:
                if outdir is not None:
                    dst = outdir / f.relative_to(p).parent / out_name(f)
                else:
                    dst = f.parent / out_name(f)
                add(str(f), str(dst))
        else:
            if output is not None:
                dst = output
            elif outdir is not None:
                dst = str(outdir / out_name(p))
            else:
                dst = str(p.parent / out_name(p))
            add(inp, dst)
    return jobs, failures, warnings


def _prepare_dirs(jobs: list) -> tuple:
    """Create output folders; returns failures for jobs whose folder cannot be made."""
    failures = []
    keep = []
    made: dict = {}
    for j in jobs:
        if j.dst == "-":
            keep.append(j)
            continue
        d = Path(j.dst).parent
        if d not in made:
            try:
                d.mkdir(parents=True, exist_ok=True)
                if not os.access(d, os.W_OK):
                    raise PermissionError(13, "Permission denied", str(d))
                made[d] = None
            except OSError as e:
                made[d] = f"cannot write to output folder {d}: {reason(e)}"
        if made[d]:
            failures.append((j.src, made[d]))
        else:
            keep.append(j)
    return keep, failures


def _report_failures(failures: list) -> None:
    for src, why in failures:
        err(f"{'<stdin>' if src == '-' else src}: {why}")


def _check_stdio(jobs: list, what: str) -> None:
    if sum(1 for j in jobs if j.src == "-") > 1:
        raise click.UsageError("standard input ('-') can be given only once")
    if sum(1 for j in jobs if j.dst == "-") > 1:
        raise click.UsageError("only one input can be written to standard output")
    if any(j.dst == "-" for j in jobs) and _stdout().isatty():
        raise click.UsageError(f"refusing to write {what} to a terminal; use -o FILE or redirect the output")


def _resolve_device(device: str) -> str:
    """--device as a torch device (spikecodec.device); one that is not available is a usage error (exit 2)."""
    from spikecodec.device import DeviceError, resolve_device

    try:
        return resolve_device(device)
    except DeviceError as e:
        err(f"--device {device}: {e} (use --device cpu or auto)")
        raise click.exceptions.Exit(2) from None


def _check_output_options(inputs: tuple, output: Optional[str], output_dir: Optional[str]) -> None:
    if output is not None and output_dir is not None:
        raise click.UsageError("-o and -O exclude each other")
    if output is not None and (len(inputs) > 1 or any(i != "-" and Path(i).is_dir() for i in inputs)):
        raise click.UsageError("-o takes a single input file; use -O DIR for several")


def _load_model_or_exit(spec: str, device: str, verbose: bool):
    """Load ``--model`` once up front; a model that cannot be loaded is a usage error (exit 2)."""
    try:
        return _get_model(spec, device)
    except Exception as e:  # noqa: BLE001
        if verbose:
            traceback.print_exc()
        err(f"--model {spec}: {reason(e)}")
        raise click.exceptions.Exit(2) from None


def _ray_setup(address: Optional[str], plan: list, jobs: int) -> dict:
    """``--ray``: a usage error (exit 2) unless it can run; the Options fields it sets ({} without it)."""
    if address is None:
        return {}
    from spikecodec import batch  # imports no Ray

    if any(j.src == "-" or j.dst == "-" for j in plan):
        err("--ray: standard input and output ('-') cannot be used with --ray; give files or folders")
        raise click.exceptions.Exit(2)
    try:
        batch.check_address(address)
        batch.require_ray()
    except (ValueError, ImportError) as e:
        err(f"--ray: {e}")
        raise click.exceptions.Exit(2) from None
    from click.core import ParameterSource

    given = click.get_current_context().get_parameter_source("jobs") is not ParameterSource.DEFAULT
    return {"ray": address, "ray_workers": jobs if given else 0}


def _run_jobs(kind: str, plan: list, failures: list, warnings: list, opts: Options, jobs: int, quiet: bool):
    """The common tail of encode and decode: report planning problems, make output folders,
    refuse existing outputs without -f, read standard input, run the jobs, and exit."""
    for w in warnings:
        if not quiet:
            warn(w)
    _report_failures(failures)
    plan, dir_failures = _prepare_dirs(plan)
    _report_failures(dir_failures)
    failures += dir_failures
    # Refuse existing outputs up front (nothing to compute for them).
    ready = []
    skipped = []  # --ray: a cluster job is resumable, so a rerun skips what is done and finishes the rest
    for j in plan:
        if j.dst != "-" and not opts.force and os.path.lexists(j.dst) and opts.ray is not None:
            skipped.append(j.dst)
            if opts.verbose:
                click.echo(f"{PROG}: skipped {j.src}: {j.dst} already exists", err=True)
        elif j.dst != "-" and not opts.force and os.path.lexists(j.dst):
            refused = [(j.src, f"{j.dst} already exists (use -f to overwrite, or -o to choose another name)")]
            _report_failures(refused)
            failures += refused
        else:
            ready.append(j)
    if skipped and not quiet:
        warn(f"{len(skipped)} of {len(plan)} outputs already exist and were skipped (use -f to overwrite)")
    if not ready:  # every input failed (or was skipped) before coding: still say so in the summary
        raise click.exceptions.Exit(_finish([], failures, quiet))
    for j in ready:
        if j.src == "-":
            j.data = _stdin().read()
    n_workers = jobs or (os.cpu_count() or 1)
    results = _execute(kind, ready, opts, n_workers, quiet)
    raise click.exceptions.Exit(_finish(results, failures, quiet))


def _set_verbosity(verbose: bool, quiet: bool) -> None:
    global _VERBOSE
    if verbose and quiet:
        raise click.UsageError("-q/--quiet and -v/--verbose exclude each other")
    _VERBOSE = verbose


# --------------------------------------------------------------------------- commands

def _version() -> str:
    try:
        from importlib.metadata import version

        return version("spikecodec")
    except Exception:  # noqa: BLE001 -- not installed (running from a checkout)
        return "0+unknown"


class _Group(click.Group):
    """The ``spikecodec`` group: usage errors are one line (``spikecodec: error: ...``, exit 2),
    also when click runs it in standalone mode (``cli()``, click's CliRunner)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            show_click_error(e)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            err("interrupted")
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "-V", "--version", prog_name=PROG)
def cli() -> None:
    """spikecodec: a neural audio codec at about 3 kbps.

    \b
      spikecodec encode song.wav            -> song.spk
      spikecodec decode song.spk -o out.wav
      spikecodec info song.spk [--json]
      spikecodec help [COMMAND]
    """


_common = [
    click.option("-f", "--force", is_flag=True, help="Overwrite existing output files."),
    click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
    click.option("-v", "--verbose", is_flag=True, help="Per-file detail on stderr; tracebacks on errors."),
    click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
                 help="Files coded in parallel (worker processes); 0 = one per CPU core."),
    click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                 help="Where the model runs; auto = CUDA when torch sees one."),
    click.option("--ray", "ray_address", metavar="[ADDRESS]", is_flag=False, flag_value="local", default=None,
                 help="Run on a Ray cluster (HOST:PORT, or auto); alone: a local Ray instance. -j N = N workers "
                      "(default one per CPU, or GPU). Paths must be the same on every node. Needs spikecodec[ray]."),
]


#: The encode options of each RateControl field (spikecodec.ratecontrol words its errors by field).
RATE_FLAGS = {"level": "--level", "target_kbps": "--target-kbps", "quality_floor": "--quality-floor"}


def _rate_control_message(e, model: str) -> str:
    """A RateControlError in the command line's words (its flags)."""
    flags = [RATE_FLAGS[f] for f in e.fields]
    if e.problem == "several":
        return f"{' and '.join(flags)} exclude each other (give one rate control)"
    if e.problem == "no_levels":
        return f"{flags[0]}: model '{model}' has no levels; use a mu-model (e.g. --model mu)"
    return f"{flags[0]}: {e}"


def _with_common(fn):
    for deco in reversed(_common):
        fn = deco(fn)
    return fn


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", metavar="OUT", help="Output file ('-' = standard output); one input only.")
@click.option("-O", "--output-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write outputs under DIR, mirroring input folders.")
@click.option("-m", "--model", metavar="NAME|PATH", default="default", show_default=True,
              help="Model: an installed model's name or alias (see `spikecodec models`) or a checkpoint file.")
@click.option("--level", "level", type=click.IntRange(0, NUM_LEVELS - 1), metavar="MU",
              help=f"Bit-rate level 0..{NUM_LEVELS - 1} (mu-models only).")
@click.option("--quality-floor", "quality_floor", type=click.FloatRange(min=0, min_open=True), metavar="LMD",
              help="Per-clip quality floor (mu-models only).")
@click.option("--target-kbps", "target_kbps", type=click.FloatRange(min=0, min_open=True), metavar="KBPS",
              help="Target bit rate of the whole file (all channels, like opusenc --bitrate): per clip the "
                   "sparsest level that fits (mu-models only); a warning when it cannot be reached.")
@click.option("--spk-version", "spk_version", type=click.Choice(["1", "2"]), default="2", show_default=True,
              help="Container version: 2 entropy-codes clips where that is cheaper (about 1/4 of v1's size); "
                   "1 writes the strict paper container (four layouts).")
@_with_common
@guard
def encode(inputs, output, output_dir, model, level, quality_floor, target_kbps, spk_version, force, quiet, verbose,
           jobs, device, ray_address):
    """Encode audio files (or folders, recursively; '-' = stdin) to .spk.

    Any format and sample rate libsndfile reads; every channel is kept. The
    output is INPUT with the extension .spk, beside it, unless -o/-O.
    """
    _set_verbosity(verbose, quiet)
    _check_output_options(inputs, output, output_dir)
    from spikecodec.ratecontrol import RateControl, RateControlError

    rate = RateControl(level=level, target_kbps=target_kbps, quality_floor=quality_floor)
    try:
        rate.validate()
    except RateControlError as e:
        raise click.UsageError(_rate_control_message(e, model)) from None

    plan, failures, warnings = _plan(inputs, output, output_dir, AUDIO_EXTS, _spk_name)
    _check_stdio(plan, "a binary .spk stream")
    ray = _ray_setup(ray_address, plan, jobs)
    dev = "cpu" if ray else _resolve_device(device)  # with --ray each worker picks its own device
    try:
        rate.validate(_load_model_or_exit(model, dev, verbose))
    except RateControlError as e:
        err(_rate_control_message(e, model))
        raise click.exceptions.Exit(2) from None
    opts = Options(model=model, device=device if ray else dev, force=force, verbose=verbose, level=level,
                   quality_floor=quality_floor, target_kbps=target_kbps, spk_version=int(spk_version), **ray)
    _run_jobs("encode", plan, failures, warnings, opts, jobs, quiet)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT.spk...")
@click.option("-o", "--output", metavar="OUT", help="Output file ('-' = WAV on standard output); one input only.")
@click.option("-O", "--output-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write outputs under DIR, mirroring input folders.")
@click.option("--format", "fmt", type=click.Choice(DECODE_FORMATS), default=None,
              help="Output format (default: from the -o extension, else wav).")
@click.option("-r", "--sample-rate", "sample_rate", type=click.IntRange(MIN_RATE, MAX_RATE), metavar="HZ",
              help="Output sample rate (default: the source rate recorded in the file).")
@click.option("--float", "float_out", is_flag=True,
              help="Write 32-bit float WAV, as decoded (may exceed full scale); default 16-bit PCM WAV, "
                   "peaks over -1 dBFS soft-limited.")
@click.option("-m", "--model", metavar="NAME|PATH", default=None,
              help="Model to decode with (default: the one named in the file).")
@_with_common
@guard
def decode(inputs, output, output_dir, fmt, sample_rate, float_out, model, force, quiet, verbose, jobs, device,
           ray_address):
    """Decode .spk files (or folders of them; '-' = stdin) to WAV or FLAC.

    The output has the source sample rate, channel count and exact length
    recorded in the file. Default name: song.spk -> song.wav beside it; an
    existing file (e.g. the original song.wav) is never replaced without -f.
    A damaged file is still decoded, its lost clips silent, and the run exits 1
    with the lost time ranges on stderr.
    """
    _set_verbosity(verbose, quiet)
    _check_output_options(inputs, output, output_dir)
    if output is not None and output != "-" and fmt is None:
        ext = Path(output).suffix.lower()
        if ext and ext.lstrip(".") not in DECODE_FORMATS:
            raise click.UsageError(f"cannot write '{ext}' files; use .wav or .flac (or --format)")
    if float_out and (fmt == "flac" or (fmt is None and output not in (None, "-")
                                                     and Path(output).suffix.lower() == ".flac")):
        raise click.UsageError("--float: FLAC holds integer samples only; write WAV for float output")
    ext = "." + (fmt or "wav")
    plan, failures, warnings = _plan(inputs, output, output_dir, {SPK_EXT}, _audio_name(ext))
    _check_stdio(plan, "audio")
    ray = _ray_setup(ray_address, plan, jobs)
    dev = "cpu" if ray else _resolve_device(device)  # with --ray each worker picks its own device
    if model:
        _load_model_or_exit(model, dev, verbose)
    opts = Options(model=model, device=device if ray else dev, force=force, verbose=verbose,
                   sample_rate=sample_rate, format=fmt, float_out=float_out, **ray)
    _run_jobs("decode", plan, failures, warnings, opts, jobs, quiet)


# --------------------------------------------------------------------------- info

def _info_dict(path: str, data: bytes) -> dict:
    from spikecodec.bitstream import inspect_spk

    info = inspect_spk(data, ideal=True)
    d = {"path": path, **{k: v for k, v in info.to_dict().items() if k != "path"}}
    d["total_bits"] = 8 * len(data)
    d["damaged"] = [list(x) for x in (getattr(info, "damaged", None) or [])]
    for extra in ("bits_by_part", "bits_by_layout", "clips_by_layout", "num_groups"):
        if hasattr(info, extra):
            d[extra] = getattr(info, extra)
    return d


def _fmt_int(n) -> str:
    return f"{n:,}".replace(",", " ") if isinstance(n, int) else str(n)


_PART_NAMES = {
    "file_header": "file header",
    "group_headers": "group headers (CRC)",
    "clip_headers": "clip headers",
    "payload": "payload",
    "padding": "padding",
    "damaged": "damaged/unreadable",
}


def _info_text(d: dict) -> str:
    clips = d.get("clips") or []
    total = int(d.get("total_bits") or 0)
    units = d.get("units") or 1

    def pct(x):
        return f"{100.0 * x / total:5.1f} %" if total else "    -"

    lines = [f"{d['path']}:"]
    lines.append(f"  format          spk v{d.get('format_version')}")
    lines.append(f"  model           {d.get('model')} (id {d.get('model_id')})")
    dur = d.get("duration_s") or 0.0
    lines.append(f"  source          {d.get('channels')} ch, {d.get('source_sample_rate')} Hz, "
                 f"{_fmt_int(d.get('num_samples'))} samples, {dur:.3f} s")
    lines.append(f"  model rate      {d.get('model_sample_rate')} Hz, hop {d.get('hop')}, "
                 f"{units} units, {d.get('frames_per_clip')} frames per clip")
    lines.append(f"  size            {_fmt_int(total // 8)} bytes = {_fmt_int(total)} bits, "
                 f"{d.get('bitrate_kbps', 0.0):.3f} kbps")
    lines.append("  clips")
    lines.append("    ch  clip  frames   events  density  layout  level   payload  header    ideal")
    for c in clips:
        frames = c.get("frames") or 0
        dens = (c.get("events") or 0) / (frames * units) if frames else 0.0
        lvl = "-" if c.get("level") is None else str(c.get("level"))
        ideal = c.get("ideal_bits")
        ideal = "-" if ideal is None else f"{ideal:.0f}"
        lines.append(f"    {c.get('channel'):>2}  {c.get('index'):>4}  {frames:>6}  {c.get('events'):>7}  "
                     f"{dens:>7.3f}  {c.get('layout'):<6}  {lvl:>5}  {c.get('payload_bits'):>8}  "
                     f"{c.get('header_bits'):>6}  {ideal:>7}")
    parts = d.get("bits_by_part")
    if not parts:
        payload = sum(int(c.get("payload_bits") or 0) for c in clips)
        cheads = sum(int(c.get("header_bits") or 0) for c in clips)
        parts = {"payload": payload, "clip_headers": cheads, "other": total - payload - cheads}
    lines.append("  bits by part")
    for k, v in parts.items():
        if v or k in ("file_header", "clip_headers", "payload"):
            lines.append(f"    {_PART_NAMES.get(k, k):<22} {_fmt_int(int(v)):>12}  {pct(int(v))}")
    # bits_by_layout (text and JSON alike): the bits of the clip records in each layout, clip headers + payload
    lines.append("  bits by layout (clip headers + payload)")
    by: dict = {}
    for c in clips:
        b = by.setdefault(c.get("layout"), [0, 0, 0])
        b[0] += 1
        b[1] += int(c.get("events") or 0)
        b[2] += int(c.get("payload_bits") or 0) + int(c.get("header_bits") or 0)
    for lay, bits in (d.get("bits_by_layout") or {}).items():
        if lay in by:
            by[lay][2] = int(bits)
    for lay, (n, ev, bits) in sorted(by.items(), key=lambda kv: -kv[1][2]):
        lines.append(f"    {lay:<6} {n:>6} clips {_fmt_int(ev):>11} events {_fmt_int(bits):>12} bits  {pct(bits)}")
    ideal = [c["ideal_bits"] for c in clips if c.get("ideal_bits") is not None]
    if ideal:
        real = sum(int(c.get("payload_bits") or 0) for c in clips)
        lines.append(f"  entropy bound   {_fmt_int(round(sum(ideal)))} bits: the context model's ideal code length of"
                     f" z (the ctx layout's model), beside {_fmt_int(real)} payload bits spent")
    if d.get("damaged"):
        lines.append(f"  DAMAGED         {len(d['damaged'])} clip(s) lost: {_damage_ranges(d['damaged'])}")
    return "\n".join(lines)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="FILE.spk...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
@guard
def info(inputs, as_json, verbose):
    """Show a .spk file's header and where its bits go (no decoding).

    Per clip: its layout, events and bits; totals by part and by layout.
    Damaged clips are listed with their time ranges, and the run exits 1.
    """
    _set_verbosity(verbose, False)
    failed = 0
    for i, path in enumerate(inputs):
        shown = "<stdin>" if path == "-" else path
        try:
            data = _stdin().read() if path == "-" else Path(path).read_bytes()
            if not data:
                raise InputError("empty file (not a .spk)")
            d = _info_dict(shown, data)
        except IsADirectoryError:
            err(f"{shown}: is a folder")
            failed += 1
            continue
        except Exception as e:  # noqa: BLE001
            if verbose:
                traceback.print_exc()
            err(f"{shown}: {e if isinstance(e, InputError) else reason(e, with_filename=False)}")
            failed += 1
            continue
        if as_json:
            click.echo(json.dumps(d, separators=(",", ":"), default=_json_default))
        else:
            if i:
                click.echo()
            click.echo(_info_text(d))
        if d.get("damaged"):
            err(f"{shown}: damaged: {len(d['damaged'])} clip(s) lost ({_damage_ranges(d['damaged'])})")
            failed += 1
    raise click.exceptions.Exit(1 if failed else 0)


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


# --------------------------------------------------------------------------- models

def _models_dict() -> dict:
    from spikecodec.checkpoint import list_models, scan, search_path

    entries, aliases = scan()
    default = aliases.get("default")
    models = []
    for e in list_models():
        models.append({
            "name": e.name, "aliases": e.aliases, "id": e.model_id, "variant": e.variant or None,
            "levels": e.levels, "kbps": e.kbps, "size_bytes": e.size, "default": e.name == default,
            "installed": e.installed, "registered": e.registered, "status": e.status,
            "released": e.released or None, "where": e.where if e.installed else None, "path": e.path,
        })
    return {"default": default, "aliases": aliases, "models": models,
            "search_path": [{"folder": d, "where": w} for d, w in search_path()]}


def _range(r, fmt="{}", sep="-") -> str:
    if not r:
        return "-"
    lo, hi = r
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}{sep}{fmt.format(hi)}"


def _models_text(d: dict) -> str:
    head = ("name", "aliases", "id", "variant", "levels", "kbps", "size", "default", "installed in")
    rows = [head]
    for m in d["models"]:
        size = f"{m['size_bytes'] / 1e6:.1f} MB" if m["size_bytes"] is not None else "-"
        inst = m["where"] if m["installed"] else f"no ({m['status']})"
        rows.append((m["name"], ",".join(m["aliases"]) or "-", m["id"] or "-", m["variant"] or "-",
                     _range(m["levels"], sep=".."), _range(m["kbps"], "{:g}"), size, "yes" if m["default"] else "",
                     inst))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("")
    lines.append("searched, in order: " + ("; ".join(f"{s['folder']} ({s['where']})" for s in d["search_path"])
                                           or "nothing"))
    return "\n".join(lines)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object: models, aliases, search path.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
@guard
def models(as_json, verbose):
    """List the installed models: name, aliases, id, variant, levels, bit-rate range, size.

    A .spk file names its model by id; `decode` finds it among these. Registered
    models that are not installed (e.g. retired ones) are listed too. Models are
    looked up in $SPIKECODEC_CHECKPOINTS, the package, the source tree and
    ~/.local/share/spikecodec/models (see docs/models.md).
    """
    _set_verbosity(verbose, False)
    d = _models_dict()
    if as_json:
        click.echo(json.dumps(d, separators=(",", ":")))
    else:
        click.echo(_models_text(d))
    raise click.exceptions.Exit(0)


# --------------------------------------------------------------------------- help

@cli.command("help")
@click.argument("command", required=False, metavar="[COMMAND]")
@click.pass_context
def help_cmd(ctx, command):
    """Show the help of spikecodec, or of COMMAND (same as COMMAND --help)."""
    group = ctx.parent.command
    if command is None:
        click.echo(group.get_help(ctx.parent))
        return
    cmd = group.get_command(ctx.parent, command)
    if cmd is None:
        raise click.UsageError(f"no such command '{command}'; commands: {', '.join(group.list_commands(ctx.parent))}")
    with click.Context(cmd, info_name=command, parent=ctx.parent) as sub:
        click.echo(cmd.get_help(sub))


# --------------------------------------------------------------------------- other command groups

def _register_extensions(group: click.Group) -> None:
    """Add the event tools (plot, edit, concat, analyze; spikecodec/events/cli.py) when present.

    They import neither torch nor matplotlib at import time, so ``info`` stays fast. A broken
    or missing extension must not take encode/decode/info down with it.
    """
    try:
        from spikecodec.events.cli import register
    except Exception:  # noqa: BLE001
        return
    register(group)


_register_extensions(cli)


# --------------------------------------------------------------------------- entry point

def main(argv: Optional[list] = None) -> None:
    """Console-script entry point (``spikecodec``)."""
    _catch_termination()
    try:
        rv = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        show_click_error(e)
        code = e.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        err("interrupted")
        code = 130
    except Terminated as e:
        err("terminated")
        code = 128 + e.signum
    except BrokenPipeError:
        silence_stdout()
        code = 1
    except Exception as e:  # noqa: BLE001 -- never a traceback unless -v
        if _VERBOSE:
            traceback.print_exc()
        err(reason(e))
        code = 1
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        silence_stdout()
    sys.exit(code)

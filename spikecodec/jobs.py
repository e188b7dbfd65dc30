"""The command lines' batch runner: inputs expanded into jobs, outputs, workers, progress, failures.

What ``spikecodec encode`` and ``decode`` (and ``batch.py``'s Ray trees) do around each file, as
flac's main.c does around encode.c/decode.c: expand files and folders into (input, output) jobs
(:func:`plan`), make output folders (:func:`prepare_dirs`), refuse or skip existing outputs, read
standard input once in the main process, run the jobs one after the other or in worker processes
(:func:`execute`, with a bar of files done and, one file at a time, a per-file percentage bar),
list the failures and give the exit status (:func:`finish`). The coding of one file is the
caller's ``run(kind, job, opts)``. Standard input and output helpers are shared with events/cli.py.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import click

from spikecodec.clitools import PROG, InputError, atomic_output, err, reason, warn


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


#: Set by execute() when files are coded one after the other with stderr on a terminal: each
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


def _shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters in its middle ("encode /very/.../song.wav")."""
    if len(text) <= limit:
        return text
    keep = limit - 3
    return text[: keep // 2] + "..." + text[len(text) - (keep - keep // 2):]


class FileProgress:
    """A per-file percentage bar on stderr (tqdm), or nothing; a callable progress(n_samples)."""

    def __init__(self, name: str, total: Optional[int], rate: int):
        self.bar = None
        if _FILE_PROGRESS and total:
            from tqdm import tqdm

            size = _bar_size()
            # tqdm cuts the line at the terminal's width: keep the name short enough that the
            # percentage always shows (flac shows the file name, not its whole path)
            width = size.get("ncols") or shutil.get_terminal_size().columns
            name = _shorten(name, max(12, width - 32))
            self.bar = tqdm(total=total, desc=name, file=sys.stderr, leave=False, mininterval=0.2,
                            bar_format="{desc}: {percentage:3.0f}% |{bar}| {elapsed}<{remaining}", **size)

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()



def per_file_bars() -> bool:
    """Whether each file gets its own percentage bar (set by :func:`execute`)."""
    return _FILE_PROGRESS


def stdout():
    return getattr(sys.stdout, "buffer", sys.stdout)


def stdin():
    return getattr(sys.stdin, "buffer", sys.stdin)


def shown_input(p: str) -> str:
    return "<stdin>" if p == "-" else p


def shown_output(p: str) -> str:
    return "<stdout>" if p == "-" else p


def read_input(job: Job) -> bytes:
    if job.src == "-":
        return job.data if job.data is not None else b""
    p = Path(job.src)
    if p.is_dir():
        raise InputError("is a folder")
    return p.read_bytes()



def write_output(dst: str, data: bytes, force: bool) -> None:
    if dst == "-":
        out = stdout()
        out.write(data)
        out.flush()
        return
    with atomic_output(Path(dst), force) as f:
        f.write(data)


class Terminated(BaseException):
    """SIGTERM/SIGHUP: unwinds like Ctrl-C (temporary outputs removed), exit status 128 + signal.

    A BaseException, so the per-input error handling does not turn it into one failed input."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


def catch_termination() -> None:
    """Make SIGTERM (kill, timeout, systemctl stop, job schedulers) and SIGHUP clean up as SIGINT does."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, _raise_terminated)


def _worker_init(threads: int) -> None:
    catch_termination()
    import torch

    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def execute(kind: str, jobs: list, opts, n_workers: int, quiet: bool, run: Callable) -> list:
    """Run all jobs (``run(kind, job, opts) -> Result``, a module-level function: workers import it),
    with a progress bar on a terminal and -v detail; returns Results."""
    results: list = []
    use_bar = (not quiet) and len(jobs) > 1 and sys.stderr.isatty()
    bar = None
    if use_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=kind, unit="file", file=sys.stderr, leave=False, **_bar_size())

    def report(r: Result) -> None:
        results.append(r)
        src = shown_input(r.src)
        if r.warning and not quiet:
            line = f"{PROG}: warning: {src}: {r.warning}"
            (bar.write(line, file=sys.stderr) if bar else click.echo(line, err=True))
        if r.ok and opts.verbose:
            line = f"{PROG}: {kind}d {src} -> {shown_output(r.dst)} ({r.detail})"
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
                report(run(kind, job, opts))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            threads = max(1, (os.cpu_count() or 1) // n_workers)
            ctx = multiprocessing.get_context("spawn")  # no fork after torch
            stdin_jobs = [j for j in jobs if j.src == "-"]
            file_jobs = [j for j in jobs if j.src != "-"]
            for job in stdin_jobs:
                report(run(kind, job, opts))
            with ProcessPoolExecutor(max_workers=min(n_workers, len(file_jobs)), mp_context=ctx,
                                     initializer=_worker_init, initargs=(threads,)) as pool:
                futures = {pool.submit(run, kind, job, opts): job for job in file_jobs}
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


def finish(results: list, failures: list, quiet: bool) -> int:
    names = [src for src, _ in failures] + [r.src for r in results if not r.ok]
    total = len(failures) + len(results)
    if names:
        if total > 1:
            shown = ", ".join(shown_input(n) for n in names)
            err(f"{len(names)} of {total} inputs failed: {shown}")
        return 1
    return 0


# --------------------------------------------------------------------------- planning

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


def plan(
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


def prepare_dirs(jobs: list) -> tuple:
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


def report_failures(failures: list) -> None:
    for src, why in failures:
        err(f"{shown_input(src)}: {why}")


def check_stdio(jobs: list, what: str) -> None:
    if sum(1 for j in jobs if j.src == "-") > 1:
        raise click.UsageError("standard input ('-') can be given only once")
    if sum(1 for j in jobs if j.dst == "-") > 1:
        raise click.UsageError("only one input can be written to standard output")
    if any(j.dst == "-" for j in jobs) and stdout().isatty():
        raise click.UsageError(f"refusing to write {what} to a terminal; use -o FILE or redirect the output")



def run_all(kind: str, plan: list, failures: list, warnings: list, opts, jobs: int, quiet: bool, run: Callable):
    """The common tail of encode and decode: report planning problems, make output folders,
    refuse existing outputs without -f, read standard input, run the jobs, and exit."""
    for w in warnings:
        if not quiet:
            warn(w)
    report_failures(failures)
    plan, dir_failures = prepare_dirs(plan)
    report_failures(dir_failures)
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
            report_failures(refused)
            failures += refused
        else:
            ready.append(j)
    if skipped and not quiet:
        warn(f"{len(skipped)} of {len(plan)} outputs already exist and were skipped (use -f to overwrite)")
    if not ready:  # every input failed (or was skipped) before coding: still say so in the summary
        raise click.exceptions.Exit(finish([], failures, quiet))
    for j in ready:
        if j.src == "-":
            j.data = stdin().read()
    n_workers = jobs or (os.cpu_count() or 1)
    results = execute(kind, ready, opts, n_workers, quiet, run)
    raise click.exceptions.Exit(finish(results, failures, quiet))


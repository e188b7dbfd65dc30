"""Installing spikecodec the ways a user does: the package list, the wheel's and sdist's
contents, and a non-editable install into a fresh venv, run from another folder after the
source tree is deleted.

The fresh-venv test is slow (about 1-2 minutes on 2 cores; marked `slow`, and `make test` runs
it). Torch is not installed into that venv but reused, torch only: a folder of links to the
running interpreter's torch and the packages torch requires is put on the venv's path by a .pth
file (installing the 700 MB CPU wheel would add about 40 s). Everything else, spikecodec's
other dependencies and spikecodec itself, is installed by pip from the configured index, as a
user's `pip install .` does. SPIKECODEC_SKIP_INSTALL_TEST=1 skips it (an offline machine).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, synth

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

REGISTRY = json.loads((REPO / "checkpoints" / "models.json").read_text())
SHIPPED = [m for m in REGISTRY["models"] if m["status"] == "shipped"]


@pytest.mark.skipif(tomllib is None, reason="needs tomllib")
def test_package_list_covers_every_subpackage():
    """pyproject.toml lists the packages by hand (checkpoints/ is mapped in as a package):
    a new subpackage must be added there, or a non-editable install lacks it."""
    st = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "spikecodec").rglob("__init__.py")}
    assert set(st["packages"]) == on_disk | {"spikecodec._checkpoints"}
    assert st["package-dir"] == {"spikecodec._checkpoints": "checkpoints"}
    assert set(st["package-data"]["spikecodec._checkpoints"]) >= {"models.json", "*.pt", "*.md"}


def _tracked_copy(dst: Path) -> Path:
    """The files a clean clone of this tree would have (tracked, plus new files not ignored)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout (the files a clean clone would have)")
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                         check=True).stdout
    for rel in filter(None, out.decode().split("\0")):
        src = REPO / rel
        if src.is_file():   # skips files deleted but not yet committed
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def test_wheel_and_sdist_carry_the_shipped_models(tmp_path):
    """What `python -m build` does (an sdist, then a wheel built from the unpacked sdist), with
    this interpreter's setuptools and no isolation."""
    pytest.importorskip("setuptools")
    src = _tracked_copy(tmp_path / "src")
    (src / "checkpoints" / "free-dev.pt").write_bytes(b"a training export")   # never shipped
    code = ("import sys; from setuptools import build_meta as b; "
            "print(getattr(b, sys.argv[1])(sys.argv[2]))")

    def build(kind, cwd):
        r = subprocess.run([sys.executable, "-c", code, kind, str(tmp_path / "dist")], cwd=cwd,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
        assert r.returncode == 0, r.stderr[-3000:]
        return tmp_path / "dist" / r.stdout.split()[-1]

    sdist = build("build_sdist", src)
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
        t.extractall(tmp_path / "unpacked")
    for m in SHIPPED:
        assert f"checkpoints/{m['file']}" in names
    assert "checkpoints/models.json" in names and "checkpoints/free-dev.pt" not in names
    assert {"setup.py", "spikecodec/bitstream/_ctxcore.c"} <= names   # the C core builds from the sdist
    wheel = build("build_wheel", next((tmp_path / "unpacked").iterdir()))
    with zipfile.ZipFile(wheel) as z:
        infos = {i.filename: i for i in z.infolist()}
        assert json.loads(z.read("spikecodec/_checkpoints/models.json")) == REGISTRY
    for m in SHIPPED:
        info = infos[f"spikecodec/_checkpoints/{m['file']}"]
        assert info.file_size == (REPO / "checkpoints" / m["file"]).stat().st_size
    assert "spikecodec/_checkpoints/free-dev.pt" not in infos
    assert not [n for n in infos if n.endswith(".pt") and "/retired/" in n]   # the archive package's, not ours
    assert {f"spikecodec/{p}/__init__.py" for p in ("bitstream", "model", "events")} <= set(infos)
    if shutil.which("cc") or shutil.which("gcc"):
        assert any(n.startswith("spikecodec/bitstream/_ctxcore.") and n.endswith((".so", ".pyd")) for n in infos)


def _torch_only_dir(dst: Path) -> Path:
    """Links to the running interpreter's torch and the distributions it requires (recursively)."""
    import importlib.metadata as md
    import re

    dst.mkdir()
    todo, seen = ["torch"], set()
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen or name in ("setuptools", "pip"):
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        base = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if not (dst / top).exists() and (base / top).exists():
                (dst / top).symlink_to(base / top)
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.split(r"[ ;<>=!~\[(]", req.strip(), maxsplit=1)[0])
    return dst


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SPIKECODEC_SKIP_INSTALL_TEST") == "1", reason="SPIKECODEC_SKIP_INSTALL_TEST=1")
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_fresh_venv_non_editable_install_works_anywhere(tmp_path):
    pytest.importorskip("torch")
    src = _tracked_copy(tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py, exe = venv / "bin" / "python", venv / "bin" / "spikecodec"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "torch-only.pth").write_text(str(_torch_only_dir(tmp_path / "torch-only")) + "\n")
    home = tmp_path / "home"          # no user data folder, no user config
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPIKECODEC_CHECKPOINTS", "VIRTUAL_ENV")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"), OMP_NUM_THREADS="1",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    pip_env = {**env, "HOME": os.environ.get("HOME", str(home))}   # pip keeps the user's index and cache
    # spikecodec, and the archive of retired models (a user with files from older releases installs both)
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", str(src), str(src / "checkpoints" / "retired")],
                         capture_output=True, text=True, env=pip_env, timeout=1200)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-4000:]
    shutil.rmtree(src)                                         # the source tree is gone

    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args):
        r = subprocess.run([str(exe), *map(str, args)], cwd=work, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"spikecodec {' '.join(map(str, args))}: {r.stderr[-3000:]}"
        return r

    where = subprocess.run([str(py), "-c", "import spikecodec; print(spikecodec.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(site), where
    d = json.loads(run("models", "--json").stdout)
    installed = {m["name"]: m for m in d["models"] if m["installed"]}
    for m in SHIPPED:
        assert installed[m["name"]]["id"] == m["id"] and installed[m["name"]]["where"] == "package"
        assert installed[m["name"]]["path"].startswith(site)
    assert d["default"] == REGISTRY["aliases"]["default"]
    for m in REGISTRY["models"]:
        if m["status"] == "retired":                           # found through the archive's entry point
            assert installed[m["name"]]["id"] == m["id"] and installed[m["name"]]["where"].startswith("plugin")

    sf.write(str(work / "a.wav"), synth(1.0, 24000, 1), 24000)
    spks = []
    for m in SHIPPED:                                          # encode with every shipped model...
        run("encode", "a.wav", "-o", f"{m['name']}.spk", "-m", m["name"])
        spks.append(f"{m['name']}.spk")
    run("encode", "a.wav", "-o", "default.spk")               # ...and the default one
    golden = json.loads((REPO / "tests" / "golden" / "golden.json").read_text())["files"]
    for g in golden:                                           # files made by earlier releases
        shutil.copy(REPO / "tests" / "golden" / g["spk"], work / g["spk"])
    run("decode", *spks, "default.spk", *[g["spk"] for g in golden], "-O", "out")   # models found by id
    for name in spks + ["default.spk"]:
        y, rate = sf.read(str(work / "out" / name.replace(".spk", ".wav")))
        assert rate == 24000 and len(y) == 24000
    for g in golden:
        y, _ = sf.read(str(work / "out" / g["spk"].replace(".spk", ".wav")), always_2d=True)
        want, _ = sf.read(str(REPO / "tests" / "golden" / g["expected"]), always_2d=True)
        assert y.shape == want.shape and np.abs(y - want).max() < 2e-3   # 16-bit WAV output

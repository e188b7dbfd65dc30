"""The layers of docs/architecture.md, enforced: which spikecodec modules may import what.

Every import in a module counts, the lazy ones inside functions too (read from the source
with `ast`, so nothing is imported to check it). A contract names the modules it binds
(a package binds all its modules) and the imports they must never make, with the reason.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "spikecodec"

# (modules bound, forbidden imports, why)
CONTRACTS = [
    (["spikecodec.bitstream"],
     ["torch", "spikecodec.model", "spikecodec.compress", "spikecodec.checkpoint", "spikecodec.streaming",
      "spikecodec.ratecontrol", "spikecodec.audio", "spikecodec.training", "spikecodec.cli", "spikecodec.events"],
     "the bytes layer reads and writes .spk files with numpy alone: no torch, no model, nothing above it"),
    (["spikecodec.model"],
     ["spikecodec.bitstream", "spikecodec.audio", "spikecodec.checkpoint", "spikecodec.compress",
      "spikecodec.streaming", "spikecodec.ratecontrol", "spikecodec.training", "spikecodec.cli", "spikecodec.events"],
     "the model is tensors in, tensors out: it knows no files, no bitstream, no audio I/O"),
    (["spikecodec.cli", "spikecodec.clitools", "spikecodec.jobs", "spikecodec.filejobs", "spikecodec.batch",
      "spikecodec.events.cli"],
     ["spikecodec.model", "spikecodec.training", "spikecodec.streaming"],
     "the command lines stand on the public API (spikecodec, compress, checkpoint) and the bitstream"),
    (["spikecodec.errors", "spikecodec.atomic"],
     ["spikecodec.", "numpy", "torch"],
     "leaves every layer may import: the standard library only"),
    (["spikecodec.device"],
     ["spikecodec.model", "spikecodec.checkpoint", "spikecodec.compress", "spikecodec.bitstream"],
     "device choice needs torch (lazily) and nothing of spikecodec but its errors"),
    (["spikecodec.audio", "spikecodec.metrics", "spikecodec.ratecontrol"],
     ["spikecodec.model", "spikecodec.cli", "spikecodec.training", "spikecodec.events"],
     "glue below the CLI; the model is reached through a loaded model object, never imported"),
    (["spikecodec.events.edit", "spikecodec.events.analyze"],
     ["torch", "spikecodec.model", "spikecodec.compress", "spikecodec.checkpoint"],
     "event edits and analysis work on z alone (the bitstream); only plot decodes audio"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports, anywhere in it (relative imports resolved;
    ``from pkg import name`` counts as importing pkg and pkg.name, which may be a module)."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names if a.name != "*")
    return out


def bound(prefixes: list[str]) -> list[str]:
    mods = all_modules()
    return [m for m in mods if any(m == p or m.startswith(p + ".") for p in prefixes)]


def forbidden(name: str, rules: list[str]) -> bool:
    return any(name == r or name.startswith(r if r.endswith(".") else r + ".") for r in rules)


@pytest.mark.parametrize("modules,rules,why", CONTRACTS, ids=[c[0][0] for c in CONTRACTS])
def test_import_contract(modules, rules, why):
    mods = all_modules()
    found = bound(modules)
    assert found, f"no module matches {modules}: the contract is stale"
    broken = []
    for m in found:
        for name in sorted(imports_of(mods[m])):
            if forbidden(name, rules) and not name.startswith(m + "."):
                broken.append(f"{m} imports {name}")
    assert not broken, f"{why}:\n  " + "\n  ".join(broken)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """The contract test itself: an import inside a function, and a relative one, are both seen."""
    pkg = tmp_path / "spikecodec" / "bitstream"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("def f():\n    import torch\n    from ..model import SpikingAutoencoder\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    names = imports_of(pkg / "x.py")
    assert "torch" in names and "spikecodec.model" in names
    assert forbidden("spikecodec.model.autoencoder", ["spikecodec.model"])
    assert not forbidden("spikecodec.modelx", ["spikecodec.model"])


def test_bitstream_and_cli_load_without_torch():
    """What the static contracts promise, at run time: the bitstream and the command line's
    module import no torch (`spikecodec info` and file tools stay fast)."""
    code = ("import sys, spikecodec.bitstream, spikecodec.cli, spikecodec.events.edit\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('spikecodec.model')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout

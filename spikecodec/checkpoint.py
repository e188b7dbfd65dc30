"""Checkpoints and the model registry.

File: a `torch.save` dict {"spikecodec_checkpoint": 1, "name", "config", "state_dict", "meta"}
with fp16 tensors, read back with `torch.load(weights_only=True)` (no pickled objects).
A checkpoint's identity (`model_id`) is the first 16 hex digits of the SHA-256 of its file;
a .spk file records it, and the decoder finds its model by that id among the installed ones.

Registry: a folder of models may hold `models.json` (see checkpoints/models.json and
docs/models.md): per released model its name, file, id, variant, level and bit-rate range,
and an alias table ({"default": "mu"}). Released files are immutable; a new model is a new
file with a new name, and an alias moves by editing one line. Folders are searched in this
order (`search_path()`):

1. every folder in $SPIKECODEC_CHECKPOINTS (os.pathsep-separated);
2. the models installed with the package (the wheel's `spikecodec/_checkpoints`);
3. folders named by installed plug-in packages (entry point group `spikecodec.models`);
4. the source tree's `checkpoints/` (an editable install or a checkout);
5. the user data folder ($XDG_DATA_HOME or ~/.local/share)/spikecodec/models.

A name resolves to its first installed match; an id to any installed file with that hash.
A `.pt` file in these folders that no registry lists is usable under its file name.
This module imports torch only to read or write a checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .atomic import atomic_write
from .device import resolve_device
from .errors import CodecError

FORMAT_KEY = "spikecodec_checkpoint"
REGISTRY_FILE = "models.json"
ENV_VAR = "SPIKECODEC_CHECKPOINTS"
ENTRY_POINT_GROUP = "spikecodec.models"
MAX_MODEL_BYTES = 25 * 1024 * 1024   # the size budget of one checkpoint file
_ID = re.compile(r"^[0-9a-fA-F]{16}$")
_HERE = os.path.dirname(os.path.abspath(__file__))


def is_model_id(s: str) -> bool:
    return bool(_ID.match(s or ""))


# ----------------------------------------------------------------------------- where models live

def package_models_dir() -> str:
    """The models installed with the package (a wheel maps checkpoints/ to spikecodec/_checkpoints)."""
    return os.path.join(_HERE, "_checkpoints")


def source_models_dir() -> str | None:
    """checkpoints/ of the source tree this package runs from (a checkout or an editable install)."""
    root = os.path.dirname(_HERE)
    d = os.path.join(root, "checkpoints")
    if os.path.isfile(os.path.join(root, "pyproject.toml")) and os.path.isdir(d):
        return d
    return None


def user_models_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "spikecodec", "models")


def _plugin_dirs() -> list[tuple[str, str]]:
    """Folders of models installed by other packages (entry point group `spikecodec.models`,
    value: an importable package whose folder holds models.json and the .pt files)."""
    try:
        from importlib.metadata import entry_points
        eps = entry_points()
        eps = eps.select(group=ENTRY_POINT_GROUP) if hasattr(eps, "select") else eps.get(ENTRY_POINT_GROUP, [])
    except Exception:  # noqa: BLE001 -- a broken environment must not stop the codec
        return []
    out = []
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            import importlib.util
            spec = importlib.util.find_spec(ep.value)
            locs = list(spec.submodule_search_locations or []) if spec else []
            folder = locs[0] if locs else (os.path.dirname(spec.origin) if spec and spec.origin else None)
        except Exception:  # noqa: BLE001
            folder = None
        if folder:
            out.append((folder, f"plugin {ep.name}"))
    return out


def search_path() -> list[tuple[str, str]]:
    """[(folder, where)] in lookup order; folders that do not exist are left out."""
    found: list[tuple[str, str]] = []
    env = os.environ.get(ENV_VAR)
    if env:
        found += [(d, ENV_VAR) for d in env.split(os.pathsep) if d]
    found.append((package_models_dir(), "package"))
    found += _plugin_dirs()
    src = source_models_dir()
    if src:
        found.append((src, "source tree"))
    found.append((user_models_dir(), "user"))
    out, seen = [], set()
    for d, where in found:
        key = os.path.realpath(d)
        if key not in seen and os.path.isdir(d):
            seen.add(key)
            out.append((d, where))
    return out


def checkpoints_dir() -> str:
    """The first folder of the search path (where the shipped models are), for copying them."""
    path = search_path()
    return path[0][0] if path else (source_models_dir() or package_models_dir())


# ----------------------------------------------------------------------------- the registry

@dataclass
class ModelEntry:
    """One model: registered in a folder's models.json, or an unregistered .pt file.

    `path` is None for a registered model whose file is not installed (e.g. a retired one)."""
    name: str
    path: str | None
    folder: str
    where: str
    registered_id: str | None = None
    variant: str = ""
    levels: list | None = None
    kbps: list | None = None
    released: str = ""
    status: str = "unregistered"
    file: str = ""
    aliases: list = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return self.registered_id is not None

    @property
    def installed(self) -> bool:
        return self.path is not None

    @property
    def model_id(self) -> str | None:
        """The registered id, else the file's hash (None when neither is known)."""
        if self.registered_id:
            return self.registered_id
        return file_id(self.path) if self.path else None

    @property
    def size(self) -> int | None:
        try:
            return os.path.getsize(self.path) if self.path else None
        except OSError:
            return None


def read_registry(folder: str) -> dict:
    """A folder's models.json ({"aliases": {}, "models": []} when it has none)."""
    p = os.path.join(folder, REGISTRY_FILE)
    if not os.path.isfile(p):
        return {"aliases": {}, "models": []}
    try:
        with open(p, encoding="utf-8") as f:
            reg = json.load(f)
        if not isinstance(reg, dict) or not isinstance(reg.get("models", []), list):
            raise ValueError("not a registry")
    except (OSError, ValueError) as e:
        raise CodecError(f"{p}: unreadable model registry ({e})") from None
    reg.setdefault("aliases", {})
    reg.setdefault("models", [])
    return reg


def scan() -> tuple[list[ModelEntry], dict]:
    """All models on the search path, in lookup order, and the alias table (first definition wins).

    A registered model whose file its folder lacks is still listed (not installed) unless an
    installed file elsewhere has its id, which then stands for it."""
    entries: list[ModelEntry] = []
    aliases: dict = {}
    for folder, where in search_path():
        reg = read_registry(folder)
        for a, target in reg["aliases"].items():
            aliases.setdefault(str(a), str(target))
        listed = set()
        for m in reg["models"]:
            f = str(m.get("file") or f"{m['name']}.pt")
            listed.add(f)
            p = os.path.join(folder, f)
            entries.append(ModelEntry(
                name=str(m["name"]), path=p if os.path.isfile(p) else None, folder=folder, where=where,
                registered_id=str(m.get("id") or "") or None, variant=str(m.get("variant") or ""),
                levels=m.get("levels"), kbps=m.get("kbps"), released=str(m.get("released") or ""),
                status=str(m.get("status") or "shipped"), file=f))
        for f in sorted(os.listdir(folder)):
            if f.endswith(".pt") and f not in listed and os.path.isfile(os.path.join(folder, f)):
                entries.append(ModelEntry(name=f[:-3], path=os.path.join(folder, f), folder=folder, where=where,
                                          file=f))
    # A registered model whose file is missing here may be installed elsewhere, unregistered
    # (e.g. a retired model's file copied into the user folder): match it by hash.
    missing = {e.registered_id: e for e in entries if e.registered and not e.installed}
    if missing:
        for e in entries:
            if not e.registered and e.installed:
                target = missing.get(e.model_id)
                if target is not None and not target.installed:
                    target.path, target.where = e.path, e.where
                    e.path = None   # listed once, under its registered name
        entries = [e for e in entries if e.registered or e.installed]
    for e in entries:
        e.aliases = sorted(a for a, t in aliases.items() if t == e.name)
    return entries, aliases


def list_models() -> list[ModelEntry]:
    """Every model on the search path, one entry per id (the first installed one, else the first found),
    in lookup order: a retired model's registry line in the package gives way to its file in the archive."""
    entries, _ = scan()
    installed_ids = {e.model_id for e in entries if e.installed}
    out, seen = [], set()
    for e in entries:
        key = e.model_id or ("missing", e.name)
        if key not in seen and (e.installed or key not in installed_ids):
            seen.add(key)
            out.append(e)
    return out


def default_model_name() -> str | None:
    _, aliases = scan()
    return aliases.get("default")


def find_by_id(model_id: str) -> ModelEntry | None:
    """The installed model whose file has this id (registered ids first, then hashing other files)."""
    model_id = (model_id or "").lower()
    entries, _ = scan()
    for e in entries:
        if e.installed and e.registered_id == model_id:
            return e
    for e in entries:
        if e.installed and not e.registered and e.model_id == model_id:
            return e
    return None


def find_by_name(name: str) -> ModelEntry | None:
    """The first installed model with this name or alias, or one with this id."""
    entries, aliases = scan()
    target = aliases.get(name, name)
    for e in entries:
        if e.installed and e.name == target:
            return e
    if is_model_id(name):
        return find_by_id(name)
    return None


def _installed_summary(entries) -> str:
    names = []
    for e in entries:
        if e.installed and e.name not in names:
            names.append(e.name)
    return ", ".join(names) or "none"


def _where_to_put(file: str | None = None) -> str:
    what = file or "its checkpoint file (any name ending in .pt)"
    return f"put {what} into {user_models_dir()} or a folder named by ${ENV_VAR} (docs/models.md)"


def missing_model_message(name: str, model_id: str) -> str:
    """Why the model a .spk file needs (its name and id from the header) cannot be found."""
    entries, _ = scan()
    msg = f"this file needs model {name!r} (id {model_id}), which is not installed"
    known = next((e for e in entries if e.registered_id == model_id), None)
    if known is not None:
        state = "a retired model" if known.status == "retired" else "a registered model"
        rel = f", released in spikecodec {known.released}" if known.released else ""
        return f"{msg}: it is {state} ({known.name!r}{rel}); {_where_to_put(known.file)}"
    same = next((e for e in entries if e.installed and e.name == name), None)
    if same is not None:
        return (f"{msg}: the installed {name!r} is a different model (id {same.model_id}); "
                f"{_where_to_put()}")
    return f"{msg} (installed: {_installed_summary(entries)}); {_where_to_put()}"


def resolve_entry(name_or_path: str | None) -> tuple[str, ModelEntry | None]:
    """A model name, alias, id or checkpoint path -> (path, its registry entry or None)."""
    spec = name_or_path or "default"
    if os.sep in spec or (os.altsep and os.altsep in spec) or spec.endswith(".pt"):
        if not os.path.isfile(spec):
            raise CodecError(f"no such checkpoint file: {spec}")
        return spec, None
    entry = find_by_name(spec)
    if entry is not None:
        return entry.path, entry
    if os.path.isfile(spec):
        return spec, None
    entries, aliases = scan()
    known = next((e for e in entries if e.name == aliases.get(spec, spec)), None)
    if known is not None:   # registered, but its file is not installed
        raise CodecError(f"model {spec!r} (id {known.registered_id}) is not installed"
                         f"{' (retired)' if known.status == 'retired' else ''}; {_where_to_put(known.file)}")
    names = sorted(aliases) + [n for n in dict.fromkeys(e.name for e in entries if e.installed)]
    raise CodecError(f"unknown model {spec!r} (known: {', '.join(names) or 'none'}; see `spikecodec models`)")


def resolve(name_or_path: str | None) -> str:
    """A model name ("default", "free", "sparse", "mu"), alias, id or path -> the checkpoint path."""
    return resolve_entry(name_or_path)[0]


_ID_CACHE: dict = {}


def file_id(path: str) -> str:
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _ID_CACHE:
        return _ID_CACHE[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    _ID_CACHE[key] = h.hexdigest()[:16]
    return _ID_CACHE[key]


def released_file(path: str) -> ModelEntry | None:
    """The registered model stored at `path` (its folder's models.json lists it, or it is the file
    of an installed registered model), else None."""
    folder, base = os.path.split(os.path.abspath(path))
    try:
        for m in read_registry(folder)["models"]:
            if str(m.get("file") or f"{m['name']}.pt") == base:
                return ModelEntry(name=str(m["name"]), path=path, folder=folder, where="",
                                  registered_id=str(m.get("id") or "") or None, file=base)
        real = os.path.realpath(path)
        for e in scan()[0]:
            if e.registered and e.installed and os.path.realpath(e.path) == real:
                return e
    except CodecError:
        return None
    return None


def check_writable(path: str) -> None:
    """Refuse to write a checkpoint over a released model: its id is in users' .spk files."""
    e = released_file(path)
    if e is not None:
        raise CodecError(f"{path} is the released model {e.name!r} (id {e.registered_id}); released models "
                         "are immutable: export to a new file (e.g. checkpoints/NAME-dev.pt) and release it "
                         "under a new name (docs/models.md)")


# ----------------------------------------------------------------------------- files

def save_checkpoint(path: str, name: str, config: dict, state_dict: dict, meta: dict | None = None) -> str:
    """Write atomically with fp16 weights (BatchNorm statistics too); returns the model id.
    Refuses to replace a released model's file (`check_writable`)."""
    import torch
    check_writable(path)
    sd = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()) for k, v in state_dict.items()}
    blob = {FORMAT_KEY: 1, "name": name, "config": dict(config), "state_dict": sd, "meta": dict(meta or {})}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        torch.save(blob, f)
    return file_id(path)


def read_checkpoint(path: str) -> dict:
    import torch
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- torch.load raises anything on a foreign file
        raise CodecError(f"{path}: not a spikecodec checkpoint ({type(e).__name__})") from None
    if not isinstance(blob, dict) or blob.get(FORMAT_KEY) != 1:
        raise CodecError(f"{path}: not a spikecodec checkpoint")
    return blob


@dataclass
class LoadedModel:
    """A ready-to-run model: `net` is a SpikingAutoencoder in eval mode on `device`."""
    net: Any   # a spikecodec.model.SpikingAutoencoder (not imported here: torch loads lazily)
    name: str
    model_id: str
    path: str
    device: str
    meta: dict

    @property
    def config(self):
        return self.net.config


def load_model(name_or_path: str | None = None, device: str | None = "auto") -> LoadedModel:
    """Load an installed model by name or alias ("default", "free", "sparse", "mu"), by model id
    (16 hex digits, as recorded in a .spk file), or a checkpoint file by path."""
    import torch
    from .model import SpikingAutoencoder
    path, entry = resolve_entry(name_or_path)
    mid = file_id(path)
    if entry is not None and entry.registered and entry.registered_id != mid:
        raise CodecError(f"{path}: this file is not the released model {entry.name!r} (its id is {mid}, the "
                         f"registry says {entry.registered_id}); released models must never be replaced: "
                         "restore the file (reinstall, or git checkout) and give a new model a new name")
    blob = read_checkpoint(path)
    try:
        net = SpikingAutoencoder.from_config(blob["config"])
    except ValueError as e:
        raise CodecError(f"{path}: this model needs a newer spikecodec ({e})") from None
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    except RuntimeError as e:
        raise CodecError(f"{path}: weights do not match their config ({str(e).splitlines()[0]})") from None
    dev = resolve_device(device)
    torch.set_flush_denormal(True)
    net.eval().to(dev)
    return LoadedModel(net=net, name=entry.name if entry is not None else str(blob["name"]), model_id=mid,
                       path=path, device=dev, meta=dict(blob.get("meta", {})))

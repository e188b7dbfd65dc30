"""spikecodec settings: which shipped models exist, their dev-set evaluation (through
spikecodec.training.evaluate, i.e. the real codec path) and the event rasters."""
from __future__ import annotations

import os


MU_LEVELS_FULL = (6, 8, 10, 12, 14, 16, 18, 20, 24)
MU_LEVELS_QUICK = (8, 20)
QUALITY_FLOOR = 0.6


def snapshot_checkpoints(dst: str) -> str:
    """Copy the shipped checkpoints (checkpoints_dir()) to `dst`; returns `dst`."""
    import shutil

    from ..checkpoint import checkpoints_dir
    src = checkpoints_dir()
    os.makedirs(dst, exist_ok=True)
    if os.path.isdir(src):
        for f in sorted(os.listdir(src)):
            if (f.endswith(".pt") and not f.endswith(".part")) or f == "models.json":
                shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
    return dst


def model_info(names: list[str]) -> list[dict]:
    from ..checkpoint import load_model
    out = []
    for name in names:
        model = load_model(name, device="cpu")
        c = model.config
        out.append({"name": name, "model_id": model.model_id, "units": c.units, "hop": c.hop,
                    "sample_rate": c.sample_rate, "levels": c.num_levels, "default_level": c.default_level,
                    "parameters": int(sum(p.numel() for p in model.net.parameters())),
                    "steps": model.meta.get("steps"), "config_name": model.meta.get("config_name")})
    return out


def available_models() -> tuple[list[str], list[str]]:
    """(present model names, notes on absent/broken ones)."""
    from ..checkpoint import load_model
    from ..checkpoint import list_models
    present, notes = [], []
    shipped = [e.name for e in list_models() if e.registered and e.status == "shipped"]
    for name in shipped:
        try:
            load_model(name, device="cpu")
            present.append(name)
        except Exception as e:  # noqa: BLE001
            notes.append(f"model `{name}` skipped: {str(e).splitlines()[0]}")
    return present, notes


def default_level(name: str) -> int | None:
    from ..checkpoint import load_model
    c = load_model(name, device="cpu").config
    return (c.default_level or 0) if c.num_levels else None


def settings(models: list[str], quick: bool) -> list[dict]:
    """One dict per codec setting: model, level, quality_floor, label, default (the model's own default)."""
    out = []
    for name in models:
        dl = default_level(name)
        if dl is None:
            out.append({"model": name, "level": None, "quality_floor": None, "label": name, "default": True})
            continue
        levels = sorted(set(MU_LEVELS_QUICK if quick else MU_LEVELS_FULL) | {dl})
        for lv in levels:
            out.append({"model": name, "level": lv, "quality_floor": None,
                        "label": f"{name} level {lv}" + (" (default)" if lv == dl else ""), "default": lv == dl})
        out.append({"model": name, "level": None, "quality_floor": QUALITY_FLOOR,
                    "label": f"{name} quality floor {QUALITY_FLOOR}", "default": False})
    return out


def evaluate_setting(s: dict, shared: str, out_dir: str) -> dict:
    """Encode+decode every dev clip under `shared` with evaluate.py (it scores without ViSQOL; the
    caller scores the decoded folders again for the per-clip rows)."""
    from ..training.evaluate import evaluate
    return evaluate(s["model"], level=s["level"], quality_floor=s["quality_floor"], visqol=False,
                    out_dir=out_dir, shared=shared, fidelity=False)


def raster_data(name: str, clip: str, levels=(None,)) -> list[dict]:
    """Events of one clip through the real encoder: per level, z (units, frames) and its rate."""
    import soundfile as sf

    from .. import compress
    from ..bitstream import read_spk
    from ..checkpoint import load_model
    model = load_model(name, device="cpu")
    x, sr = sf.read(clip, dtype="float32")
    out = []
    for lv in levels:
        data = compress.encode(x, sr, model=model, level=lv)
        spk = read_spk(data)
        z = spk.z[0]
        out.append({"model": name, "level": None if spk.levels is None else int(spk.levels[0][0]), "z": z,
                    "kbps": 8 * len(data) / (len(x) / sr) / 1000, "density": float(z.mean()),
                    "frame_s": spk.header.hop / spk.header.model_sample_rate,
                    "clip": os.path.basename(clip).rsplit(".", 1)[0]})
    return out


def raster_levels(name: str) -> tuple:
    dl = default_level(name)
    if dl is None:
        return (None,)
    return tuple(sorted({6, dl, 24} if dl not in (6, 24) else {6, 13, 24}))

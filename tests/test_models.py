"""The model registry (checkpoints/models.json), the search path, lookup by id, `spikecodec models`,
and the rule that released models are immutable."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import REPO

CK = REPO / "checkpoints"
REGISTRY = json.loads((CK / "models.json").read_text())


# ----------------------------------------------------------------------------- the shipped registry

def test_registry_is_well_formed():
    from spikecodec.checkpoint import is_model_id

    names = [m["name"] for m in REGISTRY["models"]]
    ids = [m["id"] for m in REGISTRY["models"]]
    assert len(set(names)) == len(names) and len(set(ids)) == len(ids)
    for m in REGISTRY["models"]:
        assert is_model_id(m["id"]) and m["id"] == m["id"].lower() and not is_model_id(m["name"]), m
        assert m["status"] in ("shipped", "retired"), m
        assert m["variant"] and m["released"], m
        assert m["levels"] is None or (len(m["levels"]) == 2 and m["levels"][0] <= m["levels"][1])
        assert len(m["kbps"]) == 2 and 0 < m["kbps"][0] <= m["kbps"][1]
    for alias, target in REGISTRY["aliases"].items():
        assert alias not in names and target in names, (alias, target)
    default = REGISTRY["aliases"]["default"]
    assert next(m for m in REGISTRY["models"] if m["name"] == default)["status"] == "shipped"


def test_released_files_are_unchanged_and_within_budget():
    """A released file's hash is the id in users' .spk files: it must never change."""
    from spikecodec.checkpoint import MAX_MODEL_BYTES, file_id

    for m in REGISTRY["models"]:
        p = CK / m["file"]
        if m["status"] == "retired":
            continue
        assert p.is_file(), f"shipped model {m['name']}: {p} is missing"
        assert file_id(str(p)) == m["id"], f"{p} changed: released models are immutable (docs/models.md)"
        assert p.stat().st_size <= MAX_MODEL_BYTES
        assert (CK / (m["name"] + ".md")).is_file(), f"{m['name']}: no model card"


def test_todays_models_stay_registered():
    """The ids of the first release are in users' files: they stay in the registry forever."""
    ids = {m["name"]: m["id"] for m in REGISTRY["models"]}
    assert ids.get("free") == "06ab8ac66d18103e"
    assert ids.get("sparse") == "49f71941bc7566a3"
    assert ids.get("mu") == "330a1993b2800af7"


def test_every_checkpoint_in_the_folder_is_registered():
    registered = {m["file"] for m in REGISTRY["models"]}
    for p in CK.glob("*.pt"):
        if not p.name.endswith("-dev.pt"):   # make train's exports: candidates, never shipped
            assert p.name in registered, f"{p.name} is not in checkpoints/models.json"


def test_lookup_by_name_alias_and_id():
    from spikecodec import checkpoint as c

    mu = c.find_by_name("default")
    assert mu is not None and mu.name == REGISTRY["aliases"]["default"]
    for m in REGISTRY["models"]:
        if m["status"] == "shipped":
            assert c.find_by_id(m["id"]).name == m["name"]
            assert c.find_by_name(m["id"]).name == m["name"]
    assert c.find_by_id("0123456789abcdef") is None
    with pytest.raises(c.CodecError, match="unknown model 'nope'.*default"):
        c.resolve("nope")


def test_released_model_cannot_be_overwritten(tmp_path):
    from spikecodec import checkpoint as c

    with pytest.raises(c.CodecError, match="released model 'mu'"):
        c.check_writable(str(CK / "mu.pt"))
    c.check_writable(str(CK / "mu-dev.pt"))          # a new name is fine
    (tmp_path / "models.json").write_text(json.dumps({"models": [{"name": "x", "file": "x.pt", "id": "0" * 16}]}))
    with pytest.raises(c.CodecError, match="immutable"):
        c.save_checkpoint(str(tmp_path / "x.pt"), "x", {}, {})
    assert not (tmp_path / "x.pt").exists()


def test_make_train_exports_to_a_new_file():
    import subprocess

    out = subprocess.run(["make", "-n", "-B", "train", "CONFIG=mu"], cwd=REPO, capture_output=True, text=True)
    assert "--export checkpoints/mu-dev.pt" in out.stdout, out.stdout
    assert "/checkpoints/*-dev.pt" in (REPO / ".gitignore").read_text().split()


# ----------------------------------------------------------------------------- search path, with tiny models

def _tiny(path, seed=0, name="tiny"):
    import torch

    from spikecodec.checkpoint import save_checkpoint
    from spikecodec.model import ModelConfig, SpikingAutoencoder

    torch.manual_seed(seed)
    cfg = ModelConfig(sample_rate=8000, hop=128, n_fft=256, units=8, encoder_dim=16, encoder_blocks=1,
                      decoder_dim=16, decoder_blocks=1)
    return save_checkpoint(str(path), name, cfg.to_dict(), SpikingAutoencoder(cfg).state_dict())


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An env folder and a user data folder, both empty, searched before/after the shipped models."""
    env, user = tmp_path / "env", tmp_path / "xdg"
    env.mkdir()
    (user / "spikecodec" / "models").mkdir(parents=True)
    monkeypatch.setenv("SPIKECODEC_CHECKPOINTS", str(env))
    monkeypatch.setenv("XDG_DATA_HOME", str(user))
    return env, user / "spikecodec" / "models"


def test_search_order_env_first_user_last(places):
    from spikecodec import checkpoint as c

    env, user = places
    folders = [d for d, _ in c.search_path()]
    assert folders[0] == str(env) and folders[-1] == str(user)
    _tiny(user / "free.pt")                    # a user's own "free" does not shadow the shipped one...
    assert c.find_by_name("free").registered_id == "06ab8ac66d18103e"
    _tiny(env / "free.pt")                     # ...but $SPIKECODEC_CHECKPOINTS does
    assert c.find_by_name("free").path == str(env / "free.pt")
    assert c.find_by_id("06ab8ac66d18103e").name == "free"   # the released one is still found by id


def test_decode_finds_the_model_by_id_not_by_name(places):
    import spikecodec
    from spikecodec.bitstream import read_spk

    env, user = places
    mid = _tiny(env / "tiny.pt")
    x = (np.random.default_rng(0).standard_normal((4000, 1)) * 0.1).astype(np.float32)
    data = spikecodec.encode(x, 8000, model="tiny", device="cpu")
    assert read_spk(data).header.model_id == mid
    os.replace(env / "tiny.pt", user / "renamed.pt")          # renamed and moved: still found
    y, rate = spikecodec.decode(data, device="cpu")
    assert y.shape == x.shape and rate == 8000
    (user / "renamed.pt").unlink()
    _tiny(env / "tiny.pt", seed=1)                            # same name, another model: refused
    with pytest.raises(spikecodec.CodecError) as e:
        spikecodec.decode(data, device="cpu")
    msg = str(e.value)
    assert f"needs model 'tiny' (id {mid})" in msg and "different model" in msg


def test_a_retired_model_in_the_user_folder(places, tmp_path):
    """A registry may list a model whose file it no longer ships; a copy anywhere on the path
    (any file name) stands for it, found by its id."""
    import spikecodec
    from spikecodec import checkpoint as c

    env, user = places
    mid = _tiny(tmp_path / "old.pt")
    (env / "models.json").write_text(json.dumps({"aliases": {}, "models": [
        {"name": "oldie", "file": "oldie.pt", "id": mid, "variant": "FREE", "levels": None, "kbps": [1, 2],
         "released": "0.0.1", "status": "retired"}]}))
    x = np.zeros((2000, 1), np.float32)
    data = spikecodec.encode(x, 8000, model=str(tmp_path / "old.pt"), device="cpu")
    os.replace(tmp_path / "old.pt", tmp_path / "kept-somewhere")
    with pytest.raises(spikecodec.CodecError, match=f"needs model 'tiny' \\(id {mid}\\).*retired model \\('oldie'"):
        spikecodec.decode(data, device="cpu")
    with pytest.raises(spikecodec.CodecError, match="'oldie'.*not installed"):
        c.resolve("oldie")
    shutil.copy(tmp_path / "kept-somewhere", user / "whatever.pt")   # any name: found by its id
    assert c.find_by_id(mid).name == "oldie"
    assert [e.name for e in c.list_models()].count("oldie") == 1
    assert spikecodec.decode(data, device="cpu")[0].shape == x.shape


def test_a_changed_released_file_is_refused(places, tmp_path):
    from spikecodec import checkpoint as c

    env, _ = places
    _tiny(tmp_path / "a.pt")
    shutil.copy(tmp_path / "a.pt", env / "a.pt")
    (env / "models.json").write_text(json.dumps({"models": [{"name": "a", "file": "a.pt", "id": "f" * 16}]}))
    with pytest.raises(c.CodecError, match="not the released model 'a'"):
        c.load_model("a", device="cpu")


def test_plugin_packages_add_folders(monkeypatch, tmp_path):
    """An optional package (e.g. an archive of retired models) declares its folder as an entry point."""
    import importlib.metadata
    import sys

    from spikecodec import checkpoint as c

    pkg = tmp_path / "spikecodec_archive_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint("archive", "spikecodec_archive_demo", c.ENTRY_POINT_GROUP)
    if sys.version_info >= (3, 10):
        monkeypatch.setattr(importlib.metadata, "entry_points",
                            lambda: importlib.metadata.EntryPoints([ep]))
    else:
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda: {c.ENTRY_POINT_GROUP: [ep]})
    assert (str(pkg), "plugin archive") in c.search_path()


# ----------------------------------------------------------------------------- spikecodec models

def test_models_command(cli_run):
    r = cli_run("models")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "aliases", "id", "variant"]
    default = REGISTRY["aliases"]["default"]
    for m in REGISTRY["models"]:
        row = next(l for l in lines if l.startswith(m["name"] + " "))
        assert m["id"] in row and m["variant"] in row
        assert (" MB" in row) == (m["status"] == "shipped") and ("retired" in row) == (m["status"] == "retired")
        assert ("default" in row.split()) == (m["name"] == default)
    d = json.loads(cli_run("models", "--json").stdout)
    assert d["default"] == default
    by = {m["name"]: m for m in d["models"]}
    for m in REGISTRY["models"]:
        j = by[m["name"]]
        assert j["id"] == m["id"] and j["variant"] == m["variant"] and j["kbps"] == m["kbps"]
        assert j["installed"] == (m["status"] == "shipped") and j["default"] == (m["name"] == default)
        assert (j["size_bytes"] or 0) > 1_000_000 or not j["installed"]
    assert by[default]["aliases"] == ["default"]
    assert d["search_path"][0]["folder"]


def test_models_command_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from spikecodec.cli import main\ntry: main(['models'])\nexcept SystemExit: pass\n" \
           "assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr


def test_a_rewritten_model_card_keeps_its_notes(tmp_path):
    """`model_card --keep-notes` regenerates the measured tables and keeps the hand-written notes."""
    import json

    from spikecodec.training.model_card import main as write_card
    ck = tmp_path / "tiny.pt"
    _tiny(ck)
    result = {"model": "tiny", "level": None, "sets": {"piano": {
        "scores": {"lmd": 0.4, "visqol": 3.9, "mrstft": 1.5, "si_snr": -30.0}, "fidelity": {"chroma": 0.9},
        "kbps_mean": 1.0, "kbps_min": 0.5, "kbps_max": 1.5, "density_mean": 0.1, "encode_xrt": 100, "decode_xrt": 50}}}
    (tmp_path / "eval.json").write_text(json.dumps(result))
    write_card([str(ck), str(tmp_path / "eval.json"), "--note", "trained on a wrapped\n  line", "--note", "second"])
    write_card([str(ck), str(tmp_path / "eval.json"), "--keep-notes", "--note", "third"])
    text = (tmp_path / "tiny.md").read_text()
    assert text.count("## Notes") == 1
    assert text.split("## Notes")[1].split() == "- trained on a wrapped line - second - third".split()
    assert "| default | dev clip | piano | 1.00 (0.50-1.50) | 0.400 | 3.90 |" in text
    assert "evaluate --model tiny\n" in text                  # a run with ViSQOL: no flag


def test_a_model_card_command_reproduces_a_run_without_visqol():
    from spikecodec.training.model_card import eval_command
    r = {"model": "mu3", "input_rate": 44100, "input_channels": 2,
         "sets": {"piano": {"scores": {"lmd": 0.4}}, "music": {"scores": {"lmd": 0.5}}}}
    assert eval_command(r) == ("python -m spikecodec.training.evaluate --model mu3 --input-rate 44100 "
                               "--input-channels 2 --no-visqol")


def test_release_copies_the_weights_under_a_new_name_and_changes_only_decode_time_settings(tmp_path):
    from spikecodec import checkpoint as c
    from spikecodec.checkpoint import file_id, read_checkpoint
    from spikecodec.training.release import release

    _tiny(tmp_path / "run.pt")
    name, model_id = release(str(tmp_path / "run.pt"), str(tmp_path / "cand.pt"), phase_iterations=4)
    assert name == "cand"
    src, out = read_checkpoint(str(tmp_path / "run.pt")), read_checkpoint(str(tmp_path / "cand.pt"))
    assert out["name"] == "cand" and out["config"]["phase_iterations"] == 4
    assert {k: v for k, v in out["config"].items() if k != "phase_iterations"} == \
        {k: v for k, v in src["config"].items() if k != "phase_iterations"}
    assert all(out["state_dict"][k].equal(v) for k, v in src["state_dict"].items())
    assert model_id == file_id(str(tmp_path / "cand.pt"))
    with pytest.raises(ValueError, match="retrain"):
        release(str(tmp_path / "run.pt"), str(tmp_path / "other.pt"), units=4)
    with pytest.raises(c.CodecError, match="immutable"):   # a released file is never written over
        release(str(tmp_path / "run.pt"), str(CK / "mu.pt"))


def test_at_most_four_models_ship_and_each_retired_one_lives_in_the_archive_package():
    """docs/models.md's size budget: the wheel carries at most four models (under PyPI's 100 MB file
    limit); a retired model keeps its registry line (name, id, release) and its file moves to
    checkpoints/retired, a data-only package that declares itself under the spikecodec.models entry point."""
    tomllib = pytest.importorskip("tomllib")
    from spikecodec.checkpoint import file_id

    main = json.loads((CK / "models.json").read_text())["models"]
    archive = {m["id"]: m for m in json.loads((CK / "retired" / "models.json").read_text())["models"]}
    shipped = [m for m in main if m["status"] == "shipped"]
    assert len(shipped) <= 4
    assert sum((CK / m["file"]).stat().st_size for m in shipped) < 100e6
    for m in main:
        if m["status"] == "retired":
            assert not (CK / m["file"]).exists(), f"{m['name']} is retired but still in the main package"
            assert archive[m["id"]] == m
            assert file_id(str(CK / "retired" / m["file"])) == m["id"]
        else:
            assert m["id"] not in archive and file_id(str(CK / m["file"])) == m["id"]
    assert set(archive) <= {m["id"] for m in main}
    meta = tomllib.loads((CK / "retired" / "pyproject.toml").read_text())
    (pkg,) = meta["tool"]["setuptools"]["packages"]
    assert meta["project"]["entry-points"]["spikecodec.models"]["retired"] == pkg
    assert meta["tool"]["setuptools"]["package-dir"] == {pkg: "."}
    assert {"models.json", "*.pt"} <= set(meta["tool"]["setuptools"]["package-data"][pkg])


def test_a_retired_model_is_an_install_away(tmp_path, monkeypatch):
    """Without the archive, a .spk of a retired model fails in one line naming the model and where to put
    it; with the archive's folder on the search path, the same file decodes."""
    import spikecodec
    from spikecodec.errors import CodecError

    retired = [m for m in json.loads((CK / "models.json").read_text())["models"] if m["status"] == "retired"]
    if not retired:
        pytest.skip("no retired model")
    m = retired[0]
    monkeypatch.setenv("SPIKECODEC_CHECKPOINTS", str(CK / "retired"))
    x = np.sin(np.arange(22050, dtype=np.float32) * 0.05) * 0.3
    data = spikecodec.encode(x, 22050, model=spikecodec.load_model(m["name"], device="cpu"))
    monkeypatch.delenv("SPIKECODEC_CHECKPOINTS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))   # an empty user folder
    with pytest.raises(CodecError, match=f"retired model.*{m['name']}.*{m['file']}"):
        spikecodec.decode(data, device="cpu")


def test_a_model_from_a_later_version_is_refused_in_one_line(tmp_path):
    """A config this version cannot decode faithfully (a phase it does not know) is a clear error, not wrong audio."""
    import torch

    from spikecodec import checkpoint as c
    from spikecodec.model import ModelConfig, SpikingAutoencoder
    tiny = dict(encoder_dim=16, encoder_blocks=1, decoder_dim=16, decoder_blocks=1, units=8, n_fft=256, hop=64)
    net = SpikingAutoencoder(ModelConfig(**tiny))
    path = tmp_path / "later.pt"
    c.save_checkpoint(str(path), "later", {**net.config.to_dict(), "phase_init": "from-the-future"},
                      {k: v.to(torch.float16) for k, v in net.state_dict().items()})
    with pytest.raises(c.CodecError, match="needs a newer spikecodec.*phase_init 'from-the-future'") as e:
        c.load_model(str(path), device="cpu")
    assert "\n" not in str(e.value)


def test_every_config_that_starts_from_a_released_file_names_where_it_lives():
    """A retirement moves a file to checkpoints/retired: the configs that start from it must follow it."""
    from spikecodec.training.configs import CONFIGS
    for name, cfg in CONFIGS.items():
        start = cfg.get("init_from")
        if start and start.startswith("checkpoints/"):
            assert (REPO / start).exists(), f"config {name}: init_from {start} does not exist"

# spikecodec: everyday targets. `make demo` and `make test` work on a fresh machine.
#
#   make install [CPU=1]    create .venv/ and install spikecodec (editable) with the dev and ray extras
#   make test               run the test suite
#   make lint               ruff, mypy and the import contracts between the layers (docs/architecture.md)
#   make demo               encode/decode the shipped example into demo-out/ and show where the bits go
#   make bench [QUICK=1]    run the benchmarks (docs/benchmarks.md)
#   make data [DATA_ARGS=]  build the training corpus
#   make train [CONFIG=]    train a model (CONFIG: free, sparse, mu, ...)
#
#   make man                regenerate docs/spikecodec.1 from the command line's help
#
# torch (TORCH_SPEC, default torch==2.13.0) is installed only when .venv cannot already
# import torch, so a torch you installed into .venv first (CUDA or not) is kept. From PyPI,
# on Linux x86-64 that pin is the CUDA build (with its nvidia-* packages, several GB);
# CPU=1 (or TORCH_INDEX=URL) takes it from PyTorch's CPU-only index instead (about 200 MB).

PYTHON     ?= python3
VENV       ?= .venv
VPY        := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(if $(filter 1 yes true,$(CPU)),$(TORCH_CPU_INDEX),)
CONFIG     ?= free
TRAIN_ARGS ?=
DATA_ARGS  ?=
DEMO_CLIP  ?= examples/piano.flac
DEMO_OUT   ?= demo-out
STAMP      := $(VENV)/.spikecodec-installed

.PHONY: install test lint demo bench data train clean-demo man

install: $(STAMP)

$(STAMP): pyproject.toml setup.py spikecodec/bitstream/_ctxcore.c
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@if $(VPY) -c "import torch" >/dev/null 2>&1; then \
		echo "torch already in $(VENV): keeping $$($(VPY) -c 'import torch; print(torch.__version__)')"; \
	else \
		$(VPY) -m pip install $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") "$(TORCH_SPEC)"; \
	fi
	$(VPY) -m pip install -q -e '.[dev,ray]'
	@touch $@

test: install
	$(VPY) -m pytest -q tests

# The linter and the type check are configured in pyproject.toml ([tool.ruff], [tool.mypy]);
# the layers' import contracts are tests/test_architecture.py.
lint: install
	$(VPY) -m ruff check .
	$(VPY) -m mypy
	$(VPY) -m pytest -q -p no:cacheprovider tests/test_architecture.py

demo: install
	@rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	$(VPY) -m spikecodec encode $(DEMO_CLIP) -o $(DEMO_OUT)/$(basename $(notdir $(DEMO_CLIP))).spk
	$(VPY) -m spikecodec decode $(DEMO_OUT)/$(basename $(notdir $(DEMO_CLIP))).spk -o $(DEMO_OUT)/$(basename $(notdir $(DEMO_CLIP))).wav
	$(VPY) -m spikecodec info $(DEMO_OUT)/$(basename $(notdir $(DEMO_CLIP))).spk
	@echo "demo: listen to $(DEMO_OUT)/$(basename $(notdir $(DEMO_CLIP))).wav (original: $(DEMO_CLIP))"

clean-demo:
	rm -rf $(DEMO_OUT)

# The reference codecs and the memory probe come from Debian (installed when missing and running as root).
BENCH_DEBS := opus-tools ffmpeg time

# Both need the evaluation data (../shared or SPIKECODEC_SHARED), checked before anything is installed.
# fidelity.py's note F1 (shared/eval/fidelity.py's docstring): basic-pitch's ONNX model without its
# TensorFlow dependency list, and what it needs; resampy still imports pkg_resources (setuptools < 81).
FIDELITY_PIP := mir-eval pretty-midi 'resampy<0.4.3' scikit-learn onnxruntime 'setuptools<81'

bench: install
	@$(VPY) -m spikecodec.shareddata bench
	@if ! command -v opusenc >/dev/null || ! command -v ffmpeg >/dev/null || [ ! -x /usr/bin/time ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(BENCH_DEBS); \
		else echo "make bench: install these Debian packages for the reference codecs: $(BENCH_DEBS)"; fi; \
	fi
	$(VPY) -m pip install -q -e '.[train]'
	$(VPY) -m pip install -q $(FIDELITY_PIP)
	$(VPY) -m pip install -q --no-deps basic-pitch==0.4.0
	$(VPY) -m spikecodec.benchmarks $(if $(QUICK),--quick)

# Debian packages the corpus is rendered with (installed when missing and running as root).
DATA_DEBS := fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont

data: install
	@$(VPY) -m spikecodec.shareddata data
	@if ! command -v fluidsynth >/dev/null || [ ! -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] \
	    || [ ! -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(DATA_DEBS); \
		else echo "make data: install these Debian packages first: $(DATA_DEBS)"; exit 1; fi; \
	fi
	$(VPY) -m pip install -q -e '.[train]'
	$(VPY) -m spikecodec.training.corpus $(DATA_ARGS)

# A fine-tune (sparse, mu) starts from checkpoints/free.pt. The export goes to a new file,
# checkpoints/$(CONFIG)-dev.pt (git-ignored, usable as `-m $(CONFIG)-dev`): released models
# (checkpoints/models.json) are immutable, and train refuses to overwrite one. To release it,
# rename it and add one line to checkpoints/models.json (docs/models.md).
EXPORT     ?= checkpoints/$(CONFIG)-dev.pt
train: install
	$(VPY) -m spikecodec.training.train --config $(CONFIG) --export $(EXPORT) $(TRAIN_ARGS)

# The man page, generated from the command line's own help (committed; a test checks it is current).
man:
	$(if $(wildcard $(VPY)),$(VPY),$(PYTHON)) -m spikecodec.manpage docs/spikecodec.1

# spikecodec: everyday targets. `make demo` and `make test` work on a fresh machine.
#
#   make install            create .venv/ and install spikecodec (editable) with the dev and ray extras
#   make test               run the test suite
#   make demo               encode/decode the shipped example into demo-out/ and show where the bits go
#   make bench [QUICK=1]    run the benchmarks (docs/benchmarks.md)
#   make data [DATA_ARGS=]  build the training corpus
#   make train [CONFIG=]    train a model (CONFIG: free, sparse, mu, ...)
#
# torch: a CPU build pinned by TORCH_SPEC is installed only when .venv cannot
# already import torch, so a user with their own (CUDA) torch can install it
# first into .venv, or run `make install TORCH_SPEC=...`.

PYTHON     ?= python3
VENV       ?= .venv
VPY        := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
CONFIG     ?= free
TRAIN_ARGS ?=
DATA_ARGS  ?=
DEMO_CLIP  ?= examples/piano.flac
DEMO_OUT   ?= demo-out
STAMP      := $(VENV)/.spikecodec-installed

.PHONY: install test demo bench data train clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@if $(VPY) -c "import torch" >/dev/null 2>&1; then \
		echo "torch already in $(VENV): keeping $$($(VPY) -c 'import torch; print(torch.__version__)')"; \
	else \
		$(VPY) -m pip install "$(TORCH_SPEC)"; \
	fi
	$(VPY) -m pip install -q -e '.[dev,ray]'
	@touch $@

test: install
	$(VPY) -m pytest -q tests

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

bench: install
	@if ! command -v opusenc >/dev/null || ! command -v ffmpeg >/dev/null || [ ! -x /usr/bin/time ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(BENCH_DEBS); \
		else echo "make bench: install these Debian packages for the reference codecs: $(BENCH_DEBS)"; fi; \
	fi
	$(VPY) -m pip install -q -e '.[train]'
	$(VPY) -m spikecodec.benchmarks $(if $(QUICK),--quick)

# Debian packages the corpus is rendered with (installed when missing and running as root).
DATA_DEBS := fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont

data: install
	@if ! command -v fluidsynth >/dev/null || [ ! -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] \
	    || [ ! -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(DATA_DEBS); \
		else echo "make data: install these Debian packages first: $(DATA_DEBS)"; exit 1; fi; \
	fi
	$(VPY) -m pip install -q -e '.[train]'
	$(VPY) -m spikecodec.training.corpus $(DATA_ARGS)

# A fine-tune (sparse, mu) starts from checkpoints/free.pt; --export refreshes checkpoints/$(CONFIG).pt.
train: install
	$(VPY) -m spikecodec.training.train --config $(CONFIG) --export checkpoints/$(CONFIG).pt $(TRAIN_ARGS)

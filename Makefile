# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv when it is missing and reuse it afterwards.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch is installed only when the venv has no torch at all.
# Elsewhere than the project's machines, point TORCH_INDEX at the CPU wheel
# index (https://download.pytorch.org/whl/cpu) to avoid a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.nmt-installed
DEMO_DIR ?= outputs/demo
TEST_WORKERS ?= auto

.PHONY: install demo test docs bench bench-peers clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c "import torch" 2>/dev/null || \
	  $(PY) -m pip install -q $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nmt-prepare data=sample
	$(VENV)/bin/nmt-train experiment=sample_demo hydra.run.dir=$(DEMO_DIR)
	$(VENV)/bin/nmt-evaluate ckpt=$(DEMO_DIR)/checkpoints/best.pt
	echo "The cow did not cross the bridge because it was too tired." | \
	  $(VENV)/bin/nmt-translate ckpt=$(DEMO_DIR)/checkpoints/best.pt
	$(VENV)/bin/nmt-analyze ckpt=$(DEMO_DIR)/checkpoints/best.pt output=$(DEMO_DIR)/analysis \
	  sections=[heads,alignment,faithfulness,coverage,pronouns,sentence] max_sentences=100 \
	  "text='The cow did not cross the bridge because it was too tired.'"

# One pytest worker per core; each runs torch on one thread (tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

# The documentation site (mkdocs.yml, docs/) into build/site; offline, fails on any warning.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(PY) scripts/benchmark.py

bench-peers: $(STAMP)
	$(PY) scripts/bench_peers.py

clean:
	rm -rf outputs multirun .pytest_cache

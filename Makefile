# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ctrkit-installed

.PHONY: demo test test-torch-floor bench bench-prepare clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ctrkit train --config configs/adult_deepfm.yaml --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The suite on the oldest torch that pyproject.toml allows, in a venv of its own (the registry's build of
# that torch brings CUDA libraries: about 3.5 GB to download and install). Not part of `make test`.
TORCH_FLOOR ?= 2.5.1
FLOOR_VENV  ?= .venv-torch-floor
test-torch-floor:
	@test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check torch==$(TORCH_FLOOR)
	grep -v '^torch==' constraints.txt > $(FLOOR_VENV)/constraints.txt
	$(FLOOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c $(FLOOR_VENV)/constraints.txt -e '.[dev]'
	$(FLOOR_VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/compare.py

bench-prepare: $(STAMP)
	$(BIN)/python benchmarks/bench_prepare.py

clean:
	rm -rf $(VENV) $(FLOOR_VENV) build *.egg-info src/*.egg-info .pytest_cache

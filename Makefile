# Everything a fresh machine with only Python 3.11 needs: `make test` builds the venv itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Compiled XLA programs are cached outside the repo: Brax envs take 10-40 s each to compile on CPU.
export JAX_COMPILATION_CACHE_DIR ?= $(HOME)/.cache/hyperjax/jax
PYTEST_WORKERS ?= 2

.PHONY: install lock test test-slow lint format demo bench bench-reference bench-accelerator metaworld-reference reproduce gpu-table1 clean

install: $(STAMP)

# constraints.txt pins every package (transitive ones too) to what CI tested.
# Meta-World's package comes without its declared dependencies: it pins mujoco==3.3.0, and MJX
# needs the mujoco it was built with (3.17); hyperjax patches the one place where 3.1.1 assumes
# MuJoCo 3.3 (`hyperjax.envs.meta_world`). What it really imports is pinned in pyproject.toml.
METAWORLD := metaworld==3.1.1
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps $(METAWORLD)
	touch $(STAMP)

# After changing pyproject.toml's dependencies: resolve them afresh and record the result.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -e ".[dev]"
	{ head -3 constraints.txt; .venv-lock/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-lock

# The suite's programs are tiny, so compiling them costs more than running them. LLVM's
# optimisation level 0 cuts cold compile time by about a fifth here; XLA:CPU's older element-wise
# emitters (fusion emitters off) cut it further: make test (539 tests) took 785 s of pytest
# cold with them on, 610 s with them off (2026-12-06). Float semantics are unchanged (no
# fast-math either way), but XLA fuses differently, and test-slow's single-seed grid-world
# learning check missed its margin that way (2.62 vs 1.87 + 1.0, CI stop 41), so test-slow
# keeps XLA's default emitters. Meta-World's programs turn them off per program everywhere
# (hyperjax.envs.compiler_options). worksteal keeps both workers busy to the end.
TEST_XLA_FLAGS ?= --xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false
SLOW_XLA_FLAGS ?= --xla_backend_optimization_level=0
test: $(STAMP)
	XLA_FLAGS="$(TEST_XLA_FLAGS) $(XLA_FLAGS)" $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=15

test-slow: $(STAMP)
	XLA_FLAGS="$(SLOW_XLA_FLAGS) $(XLA_FLAGS)" $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m slow --durations=15

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/ruff format --check src tests benchmarks experiments

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks experiments
	$(BIN)/ruff check --fix src tests benchmarks experiments

demo: $(STAMP)
	$(BIN)/hyperjax demo

# Every script in benchmarks/ to its table (CSVs in benchmarks/results/); ppo_parity.py, last,
# trains 3 seeds of each learner to 1.6M frames (about 45 minutes on 2 CPU cores).
bench: $(STAMP)
	$(BIN)/python benchmarks/hypernet_layer.py --sizes XS S M L XL
	$(BIN)/python benchmarks/training_speed.py
	$(BIN)/python benchmarks/sweep_scaling.py
	$(BIN)/python benchmarks/brax_peer.py
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/diagnostics_overhead.py
	$(BIN)/python benchmarks/varibad_update.py
	$(BIN)/python benchmarks/ppo_parity.py --frames 1600000 --seeds 0 1 2

# Training speed against the authors' PyTorch code, both sides in one sitting (README, "Speed
# against the authors' code"): REF=<a checkout of https://github.com/jacooba/hyper>. Their Python
# environment (CPU torch, the old gym they need) is built once in .venv-ref.
REF_VENV := .venv-ref
ROUNDS ?= 3
$(REF_VENV)/.installed: benchmarks/reference/requirements.txt | $(STAMP)
	rm -rf $(REF_VENV)
	$(BIN)/python benchmarks/vs_reference.py --make-venv $(REF_VENV) --python $(PYTHON)
	touch $@

bench-reference: $(STAMP)
	@test -n "$(REF)" || { echo "bench-reference: REF=<a checkout of https://github.com/jacooba/hyper> is required" >&2; exit 2; }
	$(MAKE) --no-print-directory $(REF_VENV)/.installed
	$(BIN)/python benchmarks/vs_reference.py --ref "$(REF)" --ref-python $(REF_VENV)/bin/python --rounds $(ROUNDS)

# Meta-World on the MuJoCo it declares (3.3.0; ours runs on MJX's 3.17, whose C engine adds a
# J'v term to the weld that MJX and 3.3.0 lack): the scripted expert's reference
# (`python -m hyperjax.envs.meta_world_reference --reference-python $(MW_VENV)/bin/python`).
MW_VENV := .venv-metaworld
$(MW_VENV)/.installed: benchmarks/reference/metaworld-requirements.txt
	rm -rf $(MW_VENV)
	$(PYTHON) -m venv $(MW_VENV)
	$(MW_VENV)/bin/pip install --quiet --no-deps -r benchmarks/reference/metaworld-requirements.txt
	touch $@

metaworld-reference: $(MW_VENV)/.installed

# The same scripts at GPU/TPU batch sizes (after `pip install -e ".[cuda]"` into the venv).
bench-accelerator: $(STAMP)
	PYTHON=$(abspath $(BIN))/python benchmarks/accelerator.sh

# The paper's tables and figures (experiments/README.md): EXPERIMENTS=all or names, VARIANT=quick|medium|full.
EXPERIMENTS ?= all
VARIANT ?= quick
reproduce: $(STAMP)
	$(BIN)/python experiments/reproduce.py $(EXPERIMENTS) --variant $(VARIANT)

# Table 1 cheetah-dir on one GPU in ten minutes of device time (experiments/gpu.py).
gpu-table1: $(STAMP)
	$(BIN)/python experiments/gpu.py

clean:
	rm -rf $(VENV) $(REF_VENV) $(MW_VENV) build *.egg-info src/*.egg-info

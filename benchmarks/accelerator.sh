#!/usr/bin/env bash
# The benchmark suite at accelerator scale: the same scripts as `make bench`, at the paper's
# batch (16 envs, comparable with the CPU tables) and at the batches a GPU is bought for
# (thousands of envs, hundreds of runs in one program). CSVs go to $HYPERJAX_BENCH_DIR (default
# benchmarks/results) with the platform in their names (`training_speed.gpu.csv`), so they never
# overwrite the CPU ones. Each step has its own time limit (STEP_LIMIT seconds): one slow compile
# cannot sink the steps after it, and a failed step is reported and skipped.
#
#   PYTHON=python3 STEP_LIMIT=120 benchmarks/accelerator.sh
set -u
PYTHON=${PYTHON:-python}
STEP_LIMIT=${STEP_LIMIT:-150}
cd "$(dirname "$0")"
export PYTHONPATH="../src${PYTHONPATH:+:$PYTHONPATH}"

step() {
  echo "== $* (limit ${STEP_LIMIT}s)"
  local start=$SECONDS
  timeout "$STEP_LIMIT" "$PYTHON" "$@"
  local rc=$?
  [ "$rc" -eq 0 ] || echo "!! step failed (rc $rc; 124 = over its limit): $*"
  echo "-- $((SECONDS - start)) s"
}

"$PYTHON" -c "import jax, hyperjax.sweep; print('devices:', jax.devices())" || exit 1
step hypernet_layer.py --sizes XS S M L XL --batch 1600 --repeats 20
step training_speed.py --cases paper-grid-xl-hn paper-grid-small-hn grid-small-rl2-standard \
  --vae reference --repeats 5
step sweep_scaling.py --runs 1 16 256 --updates 2 --repeats 3
step env_throughput.py --envs grid-world cheetah-dir --batch-sizes 16 2048 --repeats 3
# The paper's physics (the authors' MuJoCo models on MJX) beside Brax's default pipelines.
step env_throughput.py --envs cheetah-dir ant-dir humanoid-dir walker-params \
  --backends default mujoco --batch-sizes 16 2048 --steps 100 --repeats 3 \
  --csv-name env_throughput_mujoco
# Meta-World's scenes on MJX (ML1 pick-place and ML10's other 14 classes) at the paper's 16 and
# at GPU batches.
step env_throughput.py --envs ml1 ml1-reach ml1-push ml1-door-open ml1-drawer-close \
  ml1-button-press-topdown ml1-peg-insert-side ml1-window-open ml1-sweep ml1-basketball \
  ml1-drawer-open ml1-door-close ml1-shelf-place ml1-sweep-into ml1-lever-pull \
  --batch-sizes 16 64 2048 --steps 100 --repeats 3 --csv-name env_throughput_metaworld
# ML10: one program stepping its ten training scenes, a sub-batch each (batches of 10 classes).
step env_throughput.py --envs ml10 --batch-sizes 10 2000 --steps 100 --repeats 3 \
  --csv-name env_throughput_ml10
step training_speed.py --cases grid-small-rl2 cheetah-small-rl2 --num-envs 2048 --updates 2 \
  --repeats 3 --csv-name training_speed_2048
step brax_peer.py --envs 2048 --updates 4 --repeats 3
step hypernet_layer.py --sizes XS XL --batch 16384 --repeats 20 --csv-name hypernet_layer_b16384
step diagnostics_overhead.py --cases grid-xl-varibad --updates 10 1 --rounds 5

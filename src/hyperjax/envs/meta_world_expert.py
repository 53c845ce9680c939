"""Meta-World's scripted expert on Meta-World's own env: the step of its first success per task.

Imports only numpy, mujoco and metaworld, so that it also runs as a script under another Python:
Meta-World on the MuJoCo it declares (3.3.0: `make metaworld-reference` builds
`.venv-metaworld`), which cannot share a process with MJX's MuJoCo (3.17).

    .venv-metaworld/bin/python src/hyperjax/envs/meta_world_expert.py TASK SPLIT TASKS STEPS \
        --expert SawyerPickPlaceV3Policy [--seed 0]

prints {"mujoco": version, "first_success": [step or null per task]} as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import warnings
from types import ModuleType

import mujoco
import numpy as np

# Meta-World's welds as `reset_mocap_welds` writes them (sawyer_xyz_env.py:133-140): 11 numbers,
# MuJoCo 3.3's row length. MuJoCo 3.17's rows are 12 long; the 12th keeps its compiled value.
WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])


def set_mocap_welds(model: mujoco.MjModel) -> None:
    """Write Meta-World's weld data into the first 11 entries of every weld's row."""
    for i in range(model.neq):
        if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
            model.eq_data[i, : len(WELD_DATA)] = WELD_DATA


def with_weld_fix(metaworld: ModuleType) -> ModuleType:
    """`metaworld` with `SawyerMocapBase.reset_mocap_welds` writing its 11 numbers into weld rows
    of any length: on MuJoCo 3.17 (12 long) its own code fails; on 3.3 this is what it does."""
    from metaworld.sawyer_xyz_env import SawyerMocapBase

    SawyerMocapBase.reset_mocap_welds = lambda self: set_mocap_welds(self.model)
    return metaworld


def reset_env(metaworld: ModuleType, task: str, split: str, index: int, seed: int):
    """ML1(`task`, seed)'s env for task `index` of `split`, reset; and its observation with the
    goal ML1 hides shown (the expert reads it)."""
    benchmark = metaworld.ML1(f"{task}-v3", seed=seed)
    tasks = benchmark.train_tasks if split == "train" else benchmark.test_tasks
    env = benchmark.train_classes[f"{task}-v3"]()
    env.set_task(tasks[index])
    obs, _ = env.reset()
    return env, with_goal(env, obs)


def with_goal(env, obs: np.ndarray) -> np.ndarray:
    """The observation with the goal ML1 hides (zeros there) shown, for the expert."""
    obs = obs.copy()
    obs[-3:] = env._target_pos
    return obs


def first_success_steps(
    metaworld: ModuleType, task: str, expert: str, split: str, num_tasks: int, steps: int,
    seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Per task: the step (1-based) of the expert's first success, inf if none within `steps`.
    An episode stops there: later steps cannot change the answer."""
    policies = importlib.import_module(f"{metaworld.__name__}.policies")
    policy = getattr(policies, expert)()
    out = np.full(num_tasks, np.inf)
    for index in range(num_tasks):
        env, obs = reset_env(metaworld, task, split, index, seed)
        for t in range(1, steps + 1):
            obs, _, _, _, info = env.step(policy.get_action(obs))
            obs = with_goal(env, obs)
            if info["success"]:
                out[index] = t
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("split", choices=("train", "test"))
    parser.add_argument("tasks", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("--expert", required=True, help="its metaworld.policies class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # the experts warn that their gains exceed [-1, 1]
    import metaworld

    steps = first_success_steps(
        with_weld_fix(metaworld),
        args.task,
        args.expert,
        args.split,
        args.tasks,
        args.steps,
        args.seed,
    )
    first = [None if math.isinf(s) else int(s) for s in steps]
    print(json.dumps({"mujoco": mujoco.__version__, "first_success": first}))


if __name__ == "__main__":
    main()

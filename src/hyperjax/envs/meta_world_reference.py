"""Meta-World's own CPU env beside our MJX port: recorded states and scripted-policy success.

Meta-World ships a scripted expert for every task (`metaworld.policies`). Running it on both envs
over the same tasks checks the port end to end (physics, observation, reward, success) without
any learning. The expert reads the goal, which ML1 hides, so it is shown the task's goal in the
observation's last 3 entries on both sides.

    python -m hyperjax.envs.meta_world_reference [--tasks-of pick-place ...] [--tasks 50]
        [--steps 500]

prints the success table of docs/fidelity.md ("Meta-World").
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from hyperjax.envs.meta_world import MetaWorldML1, require_metaworld
from hyperjax.envs.meta_world_tasks import TASKS


def expert(task: str):
    import metaworld.policies

    return getattr(metaworld.policies, TASKS[task].expert)()


def reference_env(env: MetaWorldML1, split: str, index: int):
    """Meta-World's env for task `index` of `split`, reset, with the goal in its observation."""
    metaworld = require_metaworld()
    benchmark = metaworld.ML1(f"{env.task_name}-v3", seed=env.task_seed)
    tasks = benchmark.train_tasks if split == "train" else benchmark.test_tasks
    ref = benchmark.train_classes[f"{env.task_name}-v3"]()
    ref.set_task(tasks[index])
    obs, _ = ref.reset()
    return ref, with_goal(ref, obs)


def with_goal(ref, obs: np.ndarray) -> np.ndarray:
    """The observation with the goal ML1 hides (zeros there) shown, for the expert."""
    obs = obs.copy()
    obs[-3:] = ref._target_pos
    return obs


def record(env: MetaWorldML1, split: str, index: int, steps: int) -> dict[str, np.ndarray]:
    """The expert on Meta-World's env: per step the state, action, observation, reward, success."""
    ref, obs = reference_env(env, split, index)
    policy = expert(env.task_name)
    rows: dict[str, list] = {k: [] for k in ("qpos", "qvel", "mocap_pos", "action", "obs")}
    rows.update(reward=[], success=[], reset_obs=[obs.copy()])
    for _ in range(steps):
        action = policy.get_action(obs)
        obs, reward, _, _, info = ref.step(action)
        obs = with_goal(ref, obs)
        for key, value in (
            ("qpos", ref.data.qpos),
            ("qvel", ref.data.qvel),
            ("mocap_pos", ref.data.mocap_pos[0]),
            ("action", action),
            ("obs", obs),
        ):
            rows[key].append(np.array(value))
        rows["reward"].append(reward)
        rows["success"].append(info["success"])
    return {k: np.asarray(v) for k, v in rows.items()}


def reference_success(env: MetaWorldML1, split: str, num_tasks: int, steps: int) -> np.ndarray:
    """Per task: did the expert succeed at some step of an episode on Meta-World's env."""
    policy = expert(env.task_name)
    out = np.zeros(num_tasks)
    for index in range(num_tasks):
        ref, obs = reference_env(env, split, index)
        for _ in range(steps):
            obs, _, _, _, info = ref.step(policy.get_action(obs))
            obs = with_goal(ref, obs)
            out[index] = max(out[index], info["success"])
    return out


def port_success(env: MetaWorldML1, split: str, num_tasks: int, steps: int) -> np.ndarray:
    """The same on our MJX env: all tasks as one vmapped batch, the expert on the host."""
    return port_success_on(env, env.tasks[split][:num_tasks], steps)


def port_success_on(env: MetaWorldML1, tasks: np.ndarray, steps: int) -> np.ndarray:
    """`port_success` on given task vectors (e.g. both splits at once: one compilation)."""
    policy = expert(env.task_name)
    tasks = jnp.asarray(tasks)
    options = {"compiler_options": getattr(env, "cpu_compiler_options", None)}
    if jax.default_backend() != "cpu":
        options = {}
    reset = jax.jit(jax.vmap(env.reset_to_task), **options)
    step = jax.jit(jax.vmap(env.step), **options)
    state = reset(jax.random.split(jax.random.PRNGKey(0), len(tasks)), tasks)
    success = np.zeros(len(tasks))
    goals = np.asarray(state.info["start"].target)
    for _ in range(steps):
        obs = np.array(state.obs)
        obs[:, -3:] = goals
        action = np.stack([policy.get_action(o) for o in obs]).astype(np.float32)
        state = step(state, jnp.asarray(action))
        success = np.maximum(success, np.asarray(state.metrics["success"]))
    return success


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-of", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--tasks", type=int, default=50, help="tasks per split (ML1 has 50)")
    parser.add_argument("--steps", type=int, default=500, help="steps per episode")
    args = parser.parse_args()
    print("| task | split | tasks | Meta-World (CPU MuJoCo) | hyperjax (MJX) |")
    print("|---|---|---|---|---|")
    for task in args.tasks_of:
        env = MetaWorldML1(task)
        splits = ("train", "test")
        ref = {split: reference_success(env, split, args.tasks, args.steps) for split in splits}
        both = np.concatenate([env.tasks[split][: args.tasks] for split in splits])
        start = time.perf_counter()
        ours = dict(zip(splits, np.split(port_success_on(env, both, args.steps), 2), strict=True))
        seconds = time.perf_counter() - start
        for split in splits:
            print(
                f"| {task} | {split} | {args.tasks} | {ref[split].mean():.2f} | "
                f"{ours[split].mean():.2f} |",
                flush=True,
            )
        print(f"<!-- {task}: MJX {seconds:.0f} s for both splits, compile included -->", flush=True)


if __name__ == "__main__":
    main()

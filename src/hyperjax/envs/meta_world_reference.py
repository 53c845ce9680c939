"""Meta-World's own CPU env beside our MJX port: recorded states and scripted-policy success.

Meta-World ships a scripted expert for every task (`metaworld.policies`). Running it on both envs
over the same tasks checks the port end to end (physics, observation, reward, success) without
any learning. The expert reads the goal, which ML1 hides, so it is shown the task's goal in the
observation's last 3 entries on both sides.

    python -m hyperjax.envs.meta_world_reference [--tasks-of pick-place ...] [--tasks 50]
        [--steps 500] [--slots 16] [--reference-python this .venv-metaworld/bin/python]

prints the success table of docs/fidelity.md ("Meta-World"): the share of tasks where the
expert succeeded within the steps, and the median step of its first success, on each env.
Meta-World runs in this process (on MJX's MuJoCo, 3.17) and, with `make metaworld-reference`'s
interpreter, on the MuJoCo it declares (3.3.0), whose weld constraint MJX shares (3.17 adds a
J'v term to it: docs/fidelity.md).
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import time

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from hyperjax.envs import meta_world_expert as native
from hyperjax.envs.meta_world import MetaWorldML1, require_metaworld
from hyperjax.envs.meta_world_tasks import TASKS


def expert(task: str):
    import metaworld.policies

    return getattr(metaworld.policies, TASKS[task].expert)()


def reference_env(env: MetaWorldML1, split: str, index: int):
    """Meta-World's env for task `index` of `split`, reset, with the goal in its observation."""
    return native.reset_env(require_metaworld(), env.task_name, split, index, env.task_seed)


def record(env: MetaWorldML1, split: str, index: int, steps: int) -> dict[str, np.ndarray]:
    """The expert on Meta-World's env: per step the state, action, observation, reward, success."""
    ref, obs = reference_env(env, split, index)
    policy = expert(env.task_name)
    rows: dict[str, list] = {k: [] for k in ("qpos", "qvel", "mocap_pos", "action", "obs")}
    rows.update(reward=[], success=[], reset_obs=[obs.copy()])
    for _ in range(steps):
        action = policy.get_action(obs)
        obs, reward, _, _, info = ref.step(action)
        obs = native.with_goal(ref, obs)
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
    return np.isfinite(reference_first_success(env, split, num_tasks, steps)).astype(float)


def reference_first_success(
    env: MetaWorldML1, split: str, num_tasks: int, steps: int, python: str | None = None
) -> np.ndarray:
    """Per task: the step (1-based) of the expert's first success on Meta-World's env, inf if
    none within `steps`: in this process (its MuJoCo, 3.17), or under the interpreter `python`
    (e.g. `.venv-metaworld/bin/python`: Meta-World on its own MuJoCo, 3.3.0)."""
    expert_name = TASKS[env.task_name].expert
    if python is None:
        return native.first_success_steps(
            require_metaworld(), env.task_name, expert_name, split, num_tasks, steps,
            env.task_seed,
        )  # fmt: skip
    # -P: the script's folder (hyperjax/envs) stays off its sys.path
    command = [python, "-P", native.__file__, env.task_name, split, str(num_tasks), str(steps)]
    command += ["--expert", expert_name, "--seed", str(env.task_seed)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    first = json.loads(done.stdout.strip().splitlines()[-1])["first_success"]
    return np.array([np.inf if s is None else s for s in first], dtype=float)


def mujoco_version_of(python: str) -> str:
    """The MuJoCo version that interpreter imports."""
    command = [python, "-c", "import mujoco; print(mujoco.__version__)"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def port_success(env: MetaWorldML1, split: str, num_tasks: int, steps: int) -> np.ndarray:
    """The same on our MJX env: the tasks in vmapped slots, the expert on the host."""
    return np.isfinite(port_first_success(env, env.tasks[split][:num_tasks], steps)).astype(float)


def port_first_success(
    env: MetaWorldML1, tasks: np.ndarray, steps: int, slots: int = 16
) -> np.ndarray:
    """`reference_first_success` on our env for given task vectors (e.g. both splits at once:
    one compilation).

    `slots` envs step as one vmapped batch; a slot whose task succeeded (or ran `steps`) takes
    the next task, so the batch's cost is each task's steps to its first success rather than
    `steps` for every task (MJX steps about 40 envs/s on a 2-core CPU whatever the batch)."""
    policy = expert(env.task_name)
    tasks = np.asarray(tasks)
    slots = min(slots, len(tasks))
    options = {"compiler_options": getattr(env, "cpu_compiler_options", None)}
    if jax.default_backend() != "cpu":
        options = {}
    reset_batch = jax.vmap(env.reset_to_task)
    reset = jax.jit(reset_batch, **options)
    step = jax.jit(jax.vmap(env.step), **options)

    @functools.partial(jax.jit, **options)
    def refill(state, slot_tasks: jax.Array, fresh: jax.Array):
        """The slots flagged `fresh` reset to their new task; the others as they are."""
        new = reset_batch(jax.random.split(jax.random.PRNGKey(0), slots), slot_tasks)
        keep = lambda n, o: jnp.where(fresh.reshape(-1, *([1] * (o.ndim - 1))), n, o)  # noqa: E731
        return jax.tree.map(keep, new, state)

    slot_task = np.arange(slots)  # the task each slot runs; -1 once the queue is empty
    slot_steps = np.zeros(slots, int)
    queued = slots
    state = reset(jax.random.split(jax.random.PRNGKey(0), slots), jnp.asarray(tasks[:slots]))
    goals = np.asarray(state.info["start"].target)
    first_success = np.full(len(tasks), np.inf)
    while (slot_task >= 0).any():
        obs = np.array(state.obs)
        obs[:, -3:] = goals
        action = np.stack([policy.get_action(o) for o in obs]).astype(np.float32)
        state = step(state, jnp.asarray(action))
        slot_steps += 1
        succeeded = np.asarray(state.metrics["success"]) > 0
        finished = (slot_task >= 0) & (succeeded | (slot_steps >= steps))
        first_success[slot_task[finished & succeeded]] = slot_steps[finished & succeeded]
        if not finished.any():
            continue
        for slot in np.flatnonzero(finished):
            slot_task[slot] = queued if queued < len(tasks) else -1
            queued += 1
        slot_steps[finished] = 0
        fresh = finished & (slot_task >= 0)
        if fresh.any():
            running = tasks[np.maximum(slot_task, 0)]
            state = refill(state, jnp.asarray(running), jnp.asarray(fresh))
            goals = np.asarray(state.info["start"].target)
    return first_success


def success_and_median_step(first_success: np.ndarray) -> str:
    """ "share | median step of the first success" for a table row (median over successes)."""
    hits = first_success[np.isfinite(first_success)]
    median = f"{np.median(hits):.0f}" if hits.size else "-"
    return f"{hits.size / first_success.size:.2f} | {median}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-of", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--tasks", type=int, default=50, help="tasks per split (ML1 has 50)")
    parser.add_argument("--steps", type=int, default=500, help="steps per episode")
    parser.add_argument("--slots", type=int, default=16, help="MJX envs stepped as one batch")
    parser.add_argument(
        "--reference-python",
        nargs="+",
        default=["this"],
        help="interpreters whose Meta-World to compare against ('this': this process's, on "
        "MuJoCo 3.17; .venv-metaworld/bin/python: on Meta-World's own MuJoCo 3.3.0)",
    )
    parser.add_argument("--no-port", action="store_true", help="only the reference columns")
    args = parser.parse_args()
    if args.slots < 1:
        parser.error(f"--slots: must be >= 1, got {args.slots}")
    pythons = [None if p == "this" else p for p in dict.fromkeys(args.reference_python)]
    versions = [mujoco.__version__ if p is None else mujoco_version_of(p) for p in pythons]
    columns = [f"Meta-World, MuJoCo {v}" for v in versions] + ([] if args.no_port else ["hyperjax"])
    print(
        "| task | split | tasks x steps | "
        + " | ".join(f"{c}: success | median step" for c in columns)
        + " |"
    )
    print("|---|---|---|" + "---|---|" * len(columns))
    splits = ("train", "test")
    for task in args.tasks_of:
        env = MetaWorldML1(task)
        found, seconds = {}, []
        for python in pythons:
            start = time.perf_counter()
            found[python] = [
                reference_first_success(env, s, args.tasks, args.steps, python) for s in splits
            ]
            seconds.append(f"Meta-World {time.perf_counter() - start:.0f} s")
        if not args.no_port:
            both = np.concatenate([env.tasks[split][: args.tasks] for split in splits])
            start = time.perf_counter()
            found["port"] = np.split(port_first_success(env, both, args.steps, args.slots), 2)
            seconds.append(f"MJX {time.perf_counter() - start:.0f} s (compile included)")
        for i, split in enumerate(splits):
            cells = " | ".join(success_and_median_step(steps[i]) for steps in found.values())
            print(f"| {task} | {split} | {args.tasks} x {args.steps} | {cells} |", flush=True)
        print(f"<!-- {task}: {', '.join(seconds)} -->", flush=True)


if __name__ == "__main__":
    main()

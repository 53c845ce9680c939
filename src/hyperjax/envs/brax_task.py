"""A `MetaEnv` over one Brax environment, and held-out task splits.

`BraxTaskEnv` reuses a Brax env for what Brax does well (the physics pipeline, its randomised
reset, its observation) and replaces only the reward and termination with task-conditioned ones.
Subclasses name the Brax env and implement `task_size`, `sample_task` and `task_step`.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import brax.envs
import jax
import jax.numpy as jnp
from brax.envs.base import State

from hyperjax.envs import mujoco_models
from hyperjax.envs.base import SPLITS, MetaEnv
from hyperjax.errors import ConfigError, check_choice

# Brax's pipelines on Brax's own body models.
BRAX_BACKENDS = ("positional", "spring", "generalized", "mjx")
# "mujoco": the authors' gym MuJoCo models stepped by MJX (`mujoco_models`), the paper's physics.
BACKENDS = (*BRAX_BACKENDS, "mujoco")
# See README "Physics backend": positional is the fastest on CPU and keeps contacts stable on
# these bodies; the experiment files' paper variants use "mujoco".
DEFAULT_BACKEND = "positional"


def check_backend(backend: str, mujoco_model: str | None, task: str) -> None:
    """One-line errors for an unknown backend, or "mujoco" on a task without an authors' model."""
    allowed = BACKENDS if mujoco_model else BRAX_BACKENDS
    if backend == "mujoco" and not mujoco_model:
        raise ConfigError(
            f"env.backend: 'mujoco' runs the authors' MuJoCo models and {task} has none; "
            f"allowed: {', '.join(allowed)}"
        )
    check_choice("env.backend", backend, allowed)


# Held-out splits of a 1-D task parameter u in [0, 1): the range is cut into N_BINS equal bins
# and every fourth bin (offset 2) is the test split, so both splits span the whole range.
N_BINS = 12
TEST_BINS = tuple(range(2, N_BINS, 4))
TRAIN_BINS = tuple(b for b in range(N_BINS) if b not in TEST_BINS)


def split_fraction(rng: jax.Array, split: str) -> jax.Array:
    """A uniform draw from the train or test bins of [0, 1) (scalar float32).

    The bins have equal width, so picking a bin uniformly and then a point uniformly inside it is
    uniform over the split's union of bins.
    """
    check_choice("split", split, SPLITS)
    bins = jnp.asarray(TRAIN_BINS if split == "train" else TEST_BINS, jnp.float32)
    bin_key, offset_key = jax.random.split(rng)
    b = jax.random.choice(bin_key, bins)
    return (b + jax.random.uniform(offset_key)) / N_BINS


def in_test_bins(u: jax.Array) -> jax.Array:
    """Whether fractions `u` in [0, 1) fall in the held-out test bins."""
    b = jnp.floor(jnp.asarray(u) * N_BINS).astype(jnp.int32)
    return jnp.isin(b, jnp.asarray(TEST_BINS))


class BraxTaskEnv(MetaEnv):
    """A task distribution over a Brax `PipelineEnv`.

    `reset_to_task` is Brax's own reset (with its initial-state noise), observed with `observe`,
    plus the task in `info['task']`; `step` advances Brax's physics and calls `task_step` for
    the reward, the true termination and the metrics. Metrics keys are `metric_names`, zero at
    reset.
    """

    brax_name: str = ""
    # The authors' model in `mujoco_models.MODELS` (backend "mujoco"); None: the task has none.
    mujoco_model: str | None = None
    default_ctrl_cost_weight: float = 0.1
    metric_names: tuple[str, ...] = ()

    def __init__(
        self,
        backend: str = DEFAULT_BACKEND,
        ctrl_cost_weight: float | None = None,
        reset_noise_scale: float | None = None,
    ):
        check_backend(backend, self.mujoco_model, type(self).__name__)
        if ctrl_cost_weight is None:
            ctrl_cost_weight = self.default_ctrl_cost_weight
        if not ctrl_cost_weight >= 0:
            raise ConfigError(f"env.ctrl_cost_weight: must be >= 0, got {ctrl_cost_weight!r}")
        kwargs = self.brax_kwargs()
        if reset_noise_scale is not None:
            if not reset_noise_scale >= 0:
                raise ConfigError(f"env.reset_noise_scale: must be >= 0, got {reset_noise_scale!r}")
            kwargs["reset_noise_scale"] = reset_noise_scale
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self._backend = backend
        if backend == "mujoco":
            noise = kwargs.pop("reset_noise_scale", None)
            self._env = mujoco_models.MujocoBody(self.mujoco_model, noise)
        else:
            self._env = brax.envs.get_environment(self.brax_name, backend=backend, **kwargs)
        # A Python float, read here once: on mjx the System holds jax arrays, and `Env.dt`
        # computed from them inside a jit trace would be a tracer.
        self._dt = float(self._env.dt)

    # --- what subclasses provide -----------------------------------------------------------

    def brax_kwargs(self) -> dict[str, Any]:
        """Constructor arguments for the Brax env (other than backend)."""
        return {}

    @abc.abstractmethod
    def task_step(
        self, prev: Any, cur: Any, action: jax.Array, task: jax.Array
    ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """(reward, done, metrics) for one step from pipeline state `prev` to `cur`."""

    def observe(self, pipeline_state: Any, action: jax.Array) -> jax.Array:
        """The observation after `action` led to `pipeline_state` (Brax's own by default)."""
        return self._env._get_obs(pipeline_state)

    def to_ctrl(self, action: jax.Array) -> jax.Array:
        """Maps the policy's action to the actuator control (identity unless Brax rescales)."""
        return action

    # --- the MetaEnv interface ---------------------------------------------------------------

    @property
    def brax_env(self) -> brax.envs.PipelineEnv | mujoco_models.MujocoBody:
        """The underlying body: a Brax env, or the authors' model on MJX (backend "mujoco")."""
        return self._env

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def dt(self) -> float:
        """Seconds of simulated time per env step."""
        return self._dt

    @property
    def action_size(self) -> int:
        return self._env.action_size

    @functools.cached_property
    def observation_size(self) -> int:
        # Shape inference only: traces the reset but compiles and runs nothing.
        task = jnp.zeros((self.task_size,), jnp.float32)
        state = jax.eval_shape(self.reset_to_task, jax.random.PRNGKey(0), task)
        return int(state.obs.shape[-1])

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        state = self._env.reset(rng)
        zero = jnp.zeros(())
        return State(
            pipeline_state=state.pipeline_state,
            obs=self.observe(state.pipeline_state, jnp.zeros(self.action_size)),
            reward=zero,
            done=zero,
            metrics={name: zero for name in self.metric_names},
            info={"task": jnp.asarray(task, jnp.float32)},
        )

    def step(self, state: State, action: jax.Array) -> State:
        task = state.info["task"]
        ctrl = self.to_ctrl(action)
        prev = state.pipeline_state
        cur = self._env.pipeline_step(prev, ctrl)
        reward, done, metrics = self.task_step(prev, cur, ctrl, task)
        return state.replace(
            pipeline_state=cur,
            obs=self.observe(cur, ctrl),
            reward=jnp.asarray(reward, jnp.float32),
            done=jnp.asarray(done, jnp.float32),
            metrics=metrics,
        )

    def ctrl_cost(self, ctrl: jax.Array) -> jax.Array:
        return self.ctrl_cost_weight * jnp.sum(jnp.square(ctrl))

    @property
    def has_contact_forces(self) -> bool:
        """Whether `contact_forces` is MuJoCo's `cfrc_ext` (mjx, mujoco) rather than zeros."""
        return self._backend in ("mjx", "mujoco")

    def contact_forces(self, pipeline_state: Any) -> jax.Array:
        """MuJoCo's `cfrc_ext` (bodies x 6: com-based torque then force, world body first).

        Only the mjx and mujoco backends are MuJoCo: there it is computed with
        `mjx.rne_postconstraint`, as MuJoCo 1.50's `mj_step` did (MuJoCo >= 2.0 no longer calls
        it, so gym's `cfrc_ext` is all zeros there). Brax's own pipelines (positional, spring,
        generalized) expose no per-body contact forces, so this returns zeros of the same shape
        on them.
        """
        shape = (self._env.sys.mj_model.nbody, 6)
        if not self.has_contact_forces:
            return jnp.zeros(shape, jnp.float32)
        return mujoco_models.contact_forces(self._env.sys, pipeline_state)

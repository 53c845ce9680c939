"""Dynamics-randomised locomotion ("rand params", as in the PEARL and VariBAD papers).

A task rescales the physical parameters of the Walker2d or Hopper (Brax's bodies on Brax's
pipelines; the authors' gym models on MJX with backend "mujoco", see `mujoco_models`): every
link mass and every principal inertia by 1.5^u, the joint damping of every link by 1.3^u, and the
sliding friction of every geom that can collide by 1.5^u, with one u ~ U(-3, 3) per entry. The
task vector is the flat vector of u's, kept in `state.info["task"]`; `step` rebuilds the
`System` from it, so a task can be resampled inside jit at every trial (no per-slot fixed
dynamics, unlike Brax's domain-randomisation wrapper).

Each quantity has two aliases in a brax 0.14 `System` and each pipeline reads only one of them
(checked by perturbing one alias at a time and comparing rollouts):

| quantity | positional, spring              | generalized         | mjx, mujoco    |
|----------|---------------------------------|---------------------|----------------|
| mass     | link.inertia.mass (a)           | link.inertia.mass   | body_mass      |
| inertia  | link.inertia.i (a)              | link.inertia.i      | body_inertia   |
| damping  | link.constraint_ang_damping     | dof.damping         | dof_damping    |
| friction | geom_friction                   | geom_friction       | geom_friction  |

(a) raised to the power 1 - spring_{mass,inertia}_scale, which the assets set to make them inert:
on positional/spring the walker ignores inertia and the hopper ignores mass and inertia. Hence
the default backend is `generalized` (also Brax's own default for both envs), where all four
quantities act. `system(task)` writes every alias, so any backend sees the task.

Against the reference (jacooba/hyper `environments/mujoco/rand_param_envs/base.py`, the PEARL
`RandomEnv`): it draws one u ~ U(-3, 3) per entry of `body_mass`, `body_inertia`, `dof_damping`
and `geom_friction` (all three friction columns of every geom, the floor included). Entries that
cannot act are left out here: the world body (mass and inertia 0), the root dofs (damping 0; one
damping u per link scales its dofs, and the non-root links have one dof each), the torsional and
rolling friction (unused with condim 3) and geoms that cannot collide. Brax's walker lets only the
torso and the feet collide with the floor (the reference, and the "mujoco" backend, every geom).
Reward v_x + 1 - 1e-3 |a|^2 (the alive bonus on every step), termination and observation as the
reference's `walker2d_rand_params.py` / `hopper_rand_params.py`; dt = 4 x 0.004 s = 0.016 s as
there (the reference integrates with RK4, Brax's pipelines with semi-implicit Euler).

Held-out test split (`brax_task.split_fraction`, shared with the other Brax tasks): the range
[-3, 3] is cut into 12 equal bins; test tasks draw every entry from bins 2, 6 and 10 (u in
[-2, -1.5), [0, 0.5), [2, 2.5): a quarter of the range), train tasks from the other nine, so
every entry of a test task lies in a range no train task uses. (The reference has no held-out
split: it trains and evaluates on U(-3, 3) for every entry.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from brax import base
from brax.envs.base import State
from brax.generalized import pipeline as generalized_pipeline
from brax.io import mjcf
from brax.mjx import pipeline as mjx_pipeline
from brax.positional import pipeline as positional_pipeline
from brax.spring import pipeline as spring_pipeline
from etils import epath

from hyperjax.envs import mujoco_models
from hyperjax.envs.base import MetaEnv
from hyperjax.envs.brax_task import check_backend, split_fraction
from hyperjax.errors import check_positive

# Brax's pipelines on Brax's walker/hopper; "mujoco" steps the authors' gym models with MJX.
PIPELINES = {
    "generalized": generalized_pipeline,
    "positional": positional_pipeline,
    "spring": spring_pipeline,
    "mjx": mjx_pipeline,
}
BACKENDS = (*PIPELINES, "mujoco")

MASS_BASE = 1.5  # mass, inertia and friction scale by MASS_BASE ** u
DAMPING_BASE = 1.3  # damping scales by DAMPING_BASE ** u


class _RandParamsEnv(MetaEnv):
    """A Brax locomotion body whose mass, inertia, damping and friction are the task."""

    episode_length = 200
    episodes_per_trial = 2
    _asset: str  # file name under brax/envs/assets
    mujoco_model: str  # the authors' model in mujoco_models.MODELS
    _obs_size: int
    # The reference's rand-param walker and hopper: `RandomEnv` builds them with frame_skip 4 on
    # the XML's 0.004 s timestep, so dt = 0.016 s (Brax's own walker2d/hopper: 4 x 0.002 s).
    _timestep = 0.004
    _n_frames = 4
    _ctrl_cost_weight = 1e-3
    _healthy_reward = 1.0

    def __init__(
        self,
        backend: str = "generalized",
        log_scale_limit: float = 3.0,
        reset_noise_scale: float = 5e-3,
    ):
        check_backend(backend, self.mujoco_model, type(self).__name__)
        check_positive("env.log_scale_limit", log_scale_limit)
        check_positive("env.reset_noise_scale", reset_noise_scale)
        self._backend = backend
        self.log_scale_limit = float(log_scale_limit)
        self.reset_noise_scale = float(reset_noise_scale)
        if backend == "mujoco":
            spec = mujoco_models.MODELS[self.mujoco_model]
            self.sys = mujoco_models.load_system(spec)  # the XML's timestep set to the authors'
        else:
            sys = mjcf.load(epath.resource_path("brax") / "envs/assets" / self._asset)
            self.sys = sys.tree_replace({"opt.timestep": self._timestep})

        mj = self.sys.mj_model
        self._n_links = self.sys.num_links()
        self._dof_link = np.asarray(self.sys.dof_link())
        # Friction only matters for geoms that can touch something.
        self._contact_geoms = np.flatnonzero((mj.geom_contype | mj.geom_conaffinity) != 0)
        n = self._n_links
        self._sizes = (n, 3 * n, n, len(self._contact_geoms))  # mass, inertia, damping, friction

    # -- task distribution -------------------------------------------------------------------

    @property
    def task_size(self) -> int:
        return int(sum(self._sizes))

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        fractions = jax.vmap(split_fraction, in_axes=(0, None))(
            jax.random.split(rng, self.task_size), split
        )
        return self.log_scale_limit * (2.0 * fractions - 1.0)

    def split_task(self, task: jax.Array) -> dict[str, jax.Array]:
        """The task vector's parts: u for mass (links), inertia (links x 3), damping (links),
        friction (contact geoms)."""
        parts = jnp.split(task, np.cumsum(self._sizes)[:-1])
        names = ("mass", "inertia", "damping", "friction")
        return dict(zip(names, parts, strict=True))

    def system(self, task: jax.Array) -> base.System:
        """The nominal system with the task's scales applied to every alias of each quantity."""
        u = self.split_task(task)
        sys = self.sys
        mass = sys.link.inertia.mass * MASS_BASE ** u["mass"]
        inertia = sys.body_inertia[1:] * MASS_BASE ** u["inertia"].reshape(-1, 3)
        link_damping = DAMPING_BASE ** u["damping"]
        dof_damping = sys.dof.damping * link_damping[self._dof_link]
        friction = sys.geom_friction.at[self._contact_geoms, 0].multiply(MASS_BASE ** u["friction"])
        return sys.tree_replace(
            {
                # Brax link fields: positional, spring, generalized.
                "link.inertia.mass": mass,
                "link.inertia.i": jax.vmap(jnp.diag)(inertia),
                "link.constraint_ang_damping": sys.link.constraint_ang_damping * link_damping,
                "dof.damping": dof_damping,
                # MuJoCo fields: mjx (body 0 is the world); friction: every backend's contacts.
                "body_mass": sys.body_mass.at[1:].set(mass),
                "body_inertia": sys.body_inertia.at[1:].set(inertia),
                "dof_damping": dof_damping,
                "geom_friction": friction,
            }
        )

    # -- episode -----------------------------------------------------------------------------

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        sys = self.system(task)
        q_key, qd_key = jax.random.split(rng)
        noise = self.reset_noise_scale
        q = sys.init_q + jax.random.uniform(q_key, (sys.q_size(),), minval=-noise, maxval=noise)
        qd = jax.random.uniform(qd_key, (sys.qd_size(),), minval=-noise, maxval=noise)
        pipeline_state = self._physics_init(sys, q, qd)
        zero = jnp.zeros(())
        metrics = {
            "reward_forward": zero,
            "reward_ctrl": zero,
            "reward_healthy": zero,
            "x_position": self._root_x(pipeline_state),
            "x_velocity": zero,
        }
        obs = self._obs(pipeline_state)
        return State(pipeline_state, obs, zero, zero, metrics, {"task": task})

    def step(self, state: State, action: jax.Array) -> State:
        sys = self.system(state.info["task"])
        before = state.pipeline_state
        after = self._physics_step(sys, before, action)
        reward, done, metrics = self.transition(before, after, action)
        return state.replace(
            pipeline_state=after, obs=self._obs(after), reward=reward, done=done, metrics=metrics
        )

    def transition(
        self, before: base.State, after: base.State, action: jax.Array
    ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
        """(reward, done, metrics) of one env step from `before` to `after`: the reference's
        forward velocity (rootx over dt) + alive bonus - 1e-3 |a|^2, and its fall test."""
        x_velocity = (self._root_x(after) - self._root_x(before)) / self.dt
        ctrl_cost = self._ctrl_cost_weight * jnp.sum(jnp.square(action))
        healthy = self._is_healthy(after)
        # As Brax with terminate_when_unhealthy: the alive bonus is paid on every step.
        reward = x_velocity + self._healthy_reward - ctrl_cost
        metrics = {
            "reward_forward": x_velocity,
            "reward_ctrl": -ctrl_cost,
            "reward_healthy": jnp.asarray(self._healthy_reward, jnp.float32),
            "x_position": self._root_x(after),
            "x_velocity": x_velocity,
        }
        return reward, 1.0 - healthy.astype(jnp.float32), metrics

    # The reference reads rootx and the torso height from qpos. On the gym models (MJX) qpos is
    # that, and body positions describe the start of the last substep, as in MuJoCo; Brax's
    # models have no rootz offset, so there the torso body's position gives the height.
    def _root_x(self, ps: base.State) -> jax.Array:
        return ps.q[0] if self._backend == "mujoco" else ps.x.pos[0, 0]

    def _height(self, ps: base.State) -> jax.Array:
        return ps.q[1] if self._backend == "mujoco" else ps.x.pos[0, 2]

    def _physics_init(self, sys: base.System, q: jax.Array, qd: jax.Array) -> base.State:
        if self._backend == "mujoco":
            return mujoco_models.init(sys, q, qd)
        return PIPELINES[self._backend].init(sys, q, qd)

    def _physics_step(self, sys: base.System, ps: base.State, action: jax.Array) -> base.State:
        """`_n_frames` physics steps with the action held."""
        if self._backend == "mujoco":
            return mujoco_models.step(sys, ps, action, self._n_frames)
        pipeline = PIPELINES[self._backend]
        return jax.lax.scan(
            lambda s, _: (pipeline.step(sys, s, action), None), ps, (), self._n_frames
        )[0]

    def _obs(self, ps: base.State) -> jax.Array:
        """Brax's walker/hopper observation: q without x (torso height in place of rootz), and
        qd clipped to +-10."""
        position = ps.q.at[1].set(self._height(ps))[1:]
        return jnp.concatenate([position, jnp.clip(ps.qd, -10, 10)])

    def _is_healthy(self, ps: base.State) -> jax.Array:
        raise NotImplementedError

    # -- sizes -------------------------------------------------------------------------------

    @property
    def dt(self) -> float:
        return float(self.sys.opt.timestep) * self._n_frames

    @property
    def observation_size(self) -> int:
        return self._obs_size

    @property
    def action_size(self) -> int:
        return self.sys.act_size()

    @property
    def backend(self) -> str:
        return self._backend


class WalkerParams(_RandParamsEnv):
    """Walker2d (obs 17, action 6) with randomised dynamics; task size 7 + 21 + 7 + 4 = 39 on
    Brax's walker, 7 + 21 + 7 + 8 = 43 on the authors' model (backend "mujoco"; every geom can
    touch the floor there).

    Terminates (falls) when the torso height leaves (0.8, 2.0) or its angle leaves (-1, 1),
    as Brax's walker2d.
    """

    _asset = "walker2d.xml"
    mujoco_model = "walker2d"
    _obs_size = 17

    def _is_healthy(self, ps: base.State) -> jax.Array:
        z, angle = self._height(ps), ps.q[2]
        return (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)


class HopperParams(_RandParamsEnv):
    """Hopper (obs 11, action 3) with randomised dynamics; task size 4 + 12 + 4 + 2 = 22 on
    Brax's hopper, 4 + 12 + 4 + 5 = 25 on the authors' model (backend "mujoco").

    Terminates (falls) as Brax's hopper: torso height <= 0.7, |torso angle| >= 0.2, or any
    joint angle or velocity beyond +-100.
    """

    _asset = "hopper.xml"
    mujoco_model = "hopper"
    _obs_size = 11

    def _is_healthy(self, ps: base.State) -> jax.Array:
        z, angle = self._height(ps), ps.q[2]
        state = jnp.concatenate([ps.q[2:], ps.qd])
        return jnp.all(jnp.abs(state) < 100.0) & (z > 0.7) & (angle > -0.2) & (angle < 0.2)

"""Locomotion reward tasks on Brax bodies: Cheetah-Dir/Vel, Ant-Dir (and its circle variant),
Ant-Goal, Humanoid-Dir.

The body and its physics are Brax's (`halfcheetah`, `ant`, `humanoid`) on Brax's pipelines, or
the authors' gym MuJoCo models on MJX with `backend="mujoco"` (`mujoco_models`; the paper's
physics; AntGoal has no such variant). The task only changes the reward (and, for the ant and
humanoid, keeps the reference's fall termination). Each task follows
the authors' code (github jacooba/hyper, `environments/mujoco/*.py`; Humanoid-Dir: VariBAD's
`environments/mujoco/humanoid_dir.py`): velocities are the change of the reference's position
(half-cheetah: the rootx joint; ant: the torso body; humanoid: the centre of mass) over one env
step divided by `dt`, and control costs are on the action as given. `dt` is the reference's on
every backend (0.05 s for the cheetah and the ant, 0.015 s for the humanoid).

Held-out test splits (see `brax_task.split_fraction`): a task parameter in [0, 1) is cut into 12
equal bins and bins 2, 6 and 10 are test-only. The reference has no held-out split (it trains and
evaluates on one distribution); Cheetah-Dir and Ant-Dir, with two tasks each, hold both tasks in
both splits. Horizon 200 everywhere; 1 episode per trial, except Humanoid-Dir (2, as VariBAD).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hyperjax.envs.base import SPLITS
from hyperjax.envs.brax_task import DEFAULT_BACKEND, BraxTaskEnv, split_fraction
from hyperjax.errors import ConfigError, check_choice


def _torso_xy(pipeline_state: Any) -> jax.Array:
    return pipeline_state.x.pos[0, :2]


def _outside(z: jax.Array, low: float, high: float) -> jax.Array:
    return ((z < low) | (z > high)).astype(jnp.float32)


def _direction(angle: jax.Array) -> jax.Array:
    return jnp.stack([jnp.cos(angle), jnp.sin(angle)])


class _Cheetah(BraxTaskEnv):
    """Half-cheetah with the reference's observation and forward velocity.

    Observation (20): qpos[1:] (8), qvel (9) and the torso body's position (x, y, z) (3), as the
    reference's `HalfCheetahEnv._get_obs` (which appends `get_body_com("torso")`, so the torso x
    position is in it; y is always 0 on this planar body). Forward velocity: the rootx joint's
    displacement over one env step divided by `dt` (0.05 s: 5 x 0.01 on generalized and mjx,
    16 x 0.003125 on positional and spring). Control cost 0.5 * 0.1 |a|^2. Never terminates.
    """

    brax_name = "halfcheetah"
    mujoco_model = "half_cheetah"
    default_ctrl_cost_weight = 0.05
    metric_names = ("x_velocity", "reward_task", "reward_ctrl")

    def observe(self, pipeline_state: Any, action: jax.Array) -> jax.Array:
        torso = pipeline_state.x.pos[0]
        return jnp.concatenate([self._env._get_obs(pipeline_state), torso])

    def x_velocity(self, prev: Any, cur: Any) -> jax.Array:
        return (cur.q[0] - prev.q[0]) / self.dt

    def task_reward(self, v_x: jax.Array, task: jax.Array) -> jax.Array:
        raise NotImplementedError

    def task_step(self, prev, cur, action, task):
        v_x = self.x_velocity(prev, cur)
        task_reward = self.task_reward(v_x, task)
        ctrl = self.ctrl_cost(action)
        metrics = {"x_velocity": v_x, "reward_task": task_reward, "reward_ctrl": -ctrl}
        return task_reward - ctrl, jnp.zeros(()), metrics


class CheetahDir(_Cheetah):
    """Half-cheetah running forward or backward. Task [d], d in {-1, +1}; reward d*v_x - 0.05|a|^2.

    There are only two tasks, so there is no held-out split: both directions, equally likely, in
    both the train and test splits. Never terminates. Observation: see `_Cheetah` (20).
    """

    @property
    def task_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        check_choice("split", split, SPLITS)
        d = jnp.where(jax.random.bernoulli(rng), 1.0, -1.0)
        return d[None].astype(jnp.float32)

    def task_reward(self, v_x, task):
        return task[0] * v_x


class CheetahVel(_Cheetah):
    """Half-cheetah running at a target speed. Task [v*], v* ~ U[0, 3) (the reference's range).

    Reward -|v_x - v*| - 0.05|a|^2. Observation: see `_Cheetah` (20).

    Test split: v* in [0.5, 0.75) u [1.5, 1.75) u [2.5, 2.75); train: the rest of [0, 3).
    Never terminates.
    """

    max_velocity = 3.0

    @property
    def task_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        return (self.max_velocity * split_fraction(rng, split))[None]

    def task_reward(self, v_x, task):
        return -jnp.abs(v_x - task[0])


class _Ant(BraxTaskEnv):
    """The reference's ant reward around a direction: torso xy velocity . direction
    - 0.5|a|^2 - contact cost + 1 (survive); terminates when the torso height (qpos[2]) leaves
    [0.2, 1.0] or the state is not finite.

    Contact cost: 0.5 * 1e-3 * sum(clip(cfrc_ext, -1, 1)^2) over every body's 6 external-force
    entries. The authors ran Ant-Dir on MuJoCo 1.50, where `cfrc_ext` is computed on every step
    (a few times 1e-3 per step while feet touch the ground). Here it is exact on the mjx backend
    (`BraxTaskEnv.contact_forces`) and zero on Brax's own pipelines, which expose no contact
    forces; `metrics["reward_contact"]` shows it. `contact_cost_weight=0` turns it off.
    Observation (27): Brax's ant (qpos[2:], qvel), the same as the reference's `AntEnv._get_obs`.
    """

    brax_name = "ant"
    mujoco_model = "ant"
    default_ctrl_cost_weight = 0.5
    survive_reward = 1.0
    healthy_z = (0.2, 1.0)
    metric_names = (
        "x_velocity",
        "y_velocity",
        "reward_task",
        "reward_ctrl",
        "reward_contact",
        "reward_survive",
    )

    def __init__(
        self,
        backend: str = DEFAULT_BACKEND,
        ctrl_cost_weight: float | None = None,
        reset_noise_scale: float | None = None,
        contact_cost_weight: float = 0.5e-3,
    ):
        super().__init__(backend, ctrl_cost_weight, reset_noise_scale)
        if not contact_cost_weight >= 0:
            raise ConfigError(f"env.contact_cost_weight: must be >= 0, got {contact_cost_weight!r}")
        self.contact_cost_weight = float(contact_cost_weight)

    def direction(self, task: jax.Array) -> jax.Array:
        """The unit xy direction the task rewards."""
        raise NotImplementedError

    def contact_cost(self, pipeline_state: Any) -> jax.Array:
        if self.contact_cost_weight == 0:
            return jnp.zeros(())
        forces = jnp.clip(self.contact_forces(pipeline_state), -1.0, 1.0)
        return self.contact_cost_weight * jnp.sum(jnp.square(forces))

    def task_step(self, prev, cur, action, task):
        velocity = (_torso_xy(cur) - _torso_xy(prev)) / self.dt
        task_reward = jnp.dot(velocity, self.direction(task))
        ctrl = self.ctrl_cost(action)
        contact = self.contact_cost(cur)
        finite = jnp.isfinite(cur.q).all() & jnp.isfinite(cur.qd).all()
        # qpos[2] as the reference (on Brax's own pipelines it equals the torso body's z; on MJX
        # body positions describe the start of the last substep).
        done = jnp.maximum(_outside(cur.q[2], *self.healthy_z), 1.0 - finite)
        metrics = {
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
            "reward_task": task_reward,
            "reward_ctrl": -ctrl,
            "reward_contact": -contact,
            "reward_survive": jnp.asarray(self.survive_reward),
        }
        return task_reward - ctrl - contact + self.survive_reward, done, metrics


class AntDir(_Ant):
    """The authors' Ant-Dir (`AntDir-v0`): task [g], g in {-1, +1}, used as an angle in radians,
    so the rewarded direction is (cos g, sin g): two directions 2 rad (about 115 degrees) apart,
    not forward and backward (a quirk of the reference, kept because it defines the task).

    Reward and termination: see `_Ant`. Two tasks, so there is no held-out split: both tasks,
    equally likely, in both the train and test splits. The circle of directions is `AntDir2D`
    (`ant-dir-2d`).
    """

    @property
    def task_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        check_choice("split", split, SPLITS)
        g = jnp.where(jax.random.bernoulli(rng), 1.0, -1.0)
        return g[None].astype(jnp.float32)

    def direction(self, task: jax.Array) -> jax.Array:
        return _direction(task[0])


class _DirectionTask:
    """Task [cos a, sin a].

    Test split: a in the sectors [60, 90), [180, 210), [300, 330) degrees; train: the rest.
    """

    @property
    def task_size(self) -> int:
        return 2

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        return _direction(2 * jnp.pi * split_fraction(rng, split))


class AntDir2D(_DirectionTask, _Ant):
    """Ant running in a direction on the circle: task [cos a, sin a], a uniform in [0, 2 pi).

    Reward and termination: see `_Ant`. Held-out test split: a in the sectors [60, 90),
    [180, 210), [300, 330) degrees (a quarter of the circle); train: the rest. (The reference's
    `AntDir2DEnv` draws a uniform unit vector but then takes cos and sin of it, which gives a
    vector reward; it is not used in the paper, so this variant follows its intent.)
    """

    def direction(self, task: jax.Array) -> jax.Array:
        return task


class AntGoal(BraxTaskEnv):
    """Ant walking to a goal (task [gx, gy], uniform in the disc of radius 3 around the start).

    Reward: -||torso xy - goal||_2 - 0.1|a|^2. Never terminates: with only negative rewards,
    ending the episode early would be a reward the policy could seek. The observation includes
    the torso xy position (Brax's ant drops it), since the goal is a place, not a direction.
    Test split: goal angle in the sectors [60, 90), [180, 210), [300, 330) degrees.
    """

    brax_name = "ant"
    default_ctrl_cost_weight = 0.1
    radius = 3.0
    metric_names = ("distance", "reward_task", "reward_ctrl")

    def brax_kwargs(self) -> dict[str, Any]:
        return {"exclude_current_positions_from_observation": False}

    @property
    def task_size(self) -> int:
        return 2

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        angle_key, radius_key = jax.random.split(rng)
        angle = 2 * jnp.pi * split_fraction(angle_key, split)
        # sqrt makes the goal uniform over the disc's area, not its radius.
        r = self.radius * jnp.sqrt(jax.random.uniform(radius_key))
        return r * _direction(angle)

    def task_step(self, prev, cur, action, task):
        distance = jnp.linalg.norm(_torso_xy(cur) - task)
        ctrl = self.ctrl_cost(action)
        metrics = {"distance": distance, "reward_task": -distance, "reward_ctrl": -ctrl}
        return -distance - ctrl, jnp.zeros(()), metrics


class HumanoidDir(BraxTaskEnv):
    """VariBAD's Humanoid-Dir (`HumanoidDir-v0`): task [a], an angle a ~ U[0, 2 pi) (the
    reference's task vector is the angle itself); the rewarded direction is (cos a, sin a).

    Reward, as VariBAD's `humanoid_dir.py`: 0.25 * direction . (COM xy displacement) / timestep
    (= 1.25 x the centre-of-mass velocity over the env step, dt = 5 x timestep = 0.015 s)
    - 0.1|ctrl|^2 - impact cost + 5 (alive). Actions in [-1, 1] are rescaled to the actuator
    range [-0.4, 0.4] (VariBAD's `action_scale`), and the control cost is on the rescaled
    control. Terminates when the torso height (qpos[2]) leaves [1.0, 2.0]. Horizon 200 and
    2 episodes per trial (VariBAD's `args_humanoid_dir_varibad.py`).

    Impact cost: min(impact_cost_weight * |cfrc_ext|^2, 10), default weight 0: VariBAD pins
    mujoco-py 2.0.2.10 (MuJoCo 2.0), where `cfrc_ext` is never computed, so the cost (and the
    contact-force block of its observation) is zero there. Set `impact_cost_weight=5e-7` for
    gym's formula with forces (mjx backend only: Brax's own pipelines have no contact forces).
    Observation on Brax's pipelines (292): Brax's humanoid (qpos[2:], qvel, com inertia, com
    velocity, actuator forces), i.e. the reference's without its all-zero `cfrc_ext` block and
    the world-body rows. On the "mujoco" backend (376): the reference's exactly, world-body rows
    and the all-zero `cfrc_ext` block included (zero as under VariBAD's MuJoCo 2.0).
    Test split: a in the sectors [60, 90), [180, 210), [300, 330) degrees; train: the rest.
    """

    brax_name = "humanoid"
    mujoco_model = "humanoid"
    episodes_per_trial = 2
    default_ctrl_cost_weight = 0.1
    forward_weight = 1.25
    alive_reward = 5.0
    max_impact_cost = 10.0
    healthy_z = (1.0, 2.0)
    metric_names = (
        "x_velocity",
        "y_velocity",
        "reward_task",
        "reward_ctrl",
        "reward_impact",
        "reward_alive",
    )

    def __init__(
        self,
        backend: str = DEFAULT_BACKEND,
        ctrl_cost_weight: float | None = None,
        reset_noise_scale: float | None = None,
        impact_cost_weight: float = 0.0,
    ):
        super().__init__(backend, ctrl_cost_weight, reset_noise_scale)
        if not impact_cost_weight >= 0:
            raise ConfigError(f"env.impact_cost_weight: must be >= 0, got {impact_cost_weight!r}")
        if impact_cost_weight > 0 and not self.has_contact_forces:
            raise ConfigError(
                "env.impact_cost_weight: needs contact forces, which only the mjx backend has "
                f"(got backend {backend!r})"
            )
        self.impact_cost_weight = float(impact_cost_weight)

    @property
    def task_size(self) -> int:
        return 1

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        return (2 * jnp.pi * split_fraction(rng, split))[None]

    def to_ctrl(self, action: jax.Array) -> jax.Array:
        low, high = self.brax_env.sys.actuator.ctrl_range.T
        return low + (action + 1) * 0.5 * (high - low)

    def observe(self, pipeline_state: Any, action: jax.Array) -> jax.Array:
        return self.brax_env._get_obs(pipeline_state, action)

    def _com_xy(self, pipeline_state: Any) -> jax.Array:
        if self.backend == "mujoco":
            return self.brax_env.mass_center(pipeline_state)[:2]
        return self.brax_env._com(pipeline_state)[0][:2]

    def impact_cost(self, pipeline_state: Any) -> jax.Array:
        if self.impact_cost_weight == 0:
            return jnp.zeros(())
        cost = self.impact_cost_weight * jnp.sum(jnp.square(self.contact_forces(pipeline_state)))
        return jnp.minimum(cost, self.max_impact_cost)

    def task_step(self, prev, cur, action, task):
        velocity = (self._com_xy(cur) - self._com_xy(prev)) / self.dt
        task_reward = self.forward_weight * jnp.dot(velocity, _direction(task[0]))
        ctrl = self.ctrl_cost(action)
        impact = self.impact_cost(cur)
        done = _outside(cur.q[2], *self.healthy_z)
        metrics = {
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
            "reward_task": task_reward,
            "reward_ctrl": -ctrl,
            "reward_impact": -impact,
            "reward_alive": jnp.asarray(self.alive_reward),
        }
        return task_reward - ctrl - impact + self.alive_reward, done, metrics

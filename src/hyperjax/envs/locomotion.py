"""Locomotion reward tasks on Brax bodies: Cheetah-Dir/Vel, Ant-Dir/Goal, Humanoid-Dir.

The body and its physics are Brax's (`halfcheetah`, `ant`, `humanoid`); the task only changes the
reward (and, for the ant and humanoid, keeps Brax's fall termination). Velocities are the change of
the torso (humanoid: centre of mass) position over one env step divided by `dt`, as in Brax.
Control costs are on the action as given (Brax clips it to the actuator range in the physics).

Held-out test splits (see `brax_task.split_fraction`): a task parameter in [0, 1) is cut into 12
equal bins and bins 2, 6 and 10 are test-only. All tasks have horizon 200, 1 episode per trial.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hyperjax.envs.base import SPLITS
from hyperjax.envs.brax_task import BraxTaskEnv, split_fraction
from hyperjax.errors import check_choice


def _torso_xy(pipeline_state: Any) -> jax.Array:
    return pipeline_state.x.pos[0, :2]


def _outside(z: jax.Array, low: float, high: float) -> jax.Array:
    return ((z < low) | (z > high)).astype(jnp.float32)


def _direction(angle: jax.Array) -> jax.Array:
    return jnp.stack([jnp.cos(angle), jnp.sin(angle)])


class _Cheetah(BraxTaskEnv):
    brax_name = "halfcheetah"
    default_ctrl_cost_weight = 0.05
    metric_names = ("x_velocity", "reward_task", "reward_ctrl")

    def x_velocity(self, prev: Any, cur: Any) -> jax.Array:
        return (cur.x.pos[0, 0] - prev.x.pos[0, 0]) / self.dt

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
    both the train and test splits. Never terminates.
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
    """Half-cheetah running at a target speed. Task [v*], v* ~ U[0, 3).

    Reward -|v_x - v*| - 0.05|a|^2.

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


class _DirectionTask:
    """Task [cos a, sin a].

    Test split: a in the sectors [60, 90), [180, 210), [300, 330) degrees; train: the rest.
    """

    @property
    def task_size(self) -> int:
        return 2

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        return _direction(2 * jnp.pi * split_fraction(rng, split))


class AntDir(_DirectionTask, BraxTaskEnv):
    """Ant running in a direction on the circle (task [cos a, sin a], a ~ U[0, 2 pi)).

    Reward: torso xy velocity . direction - 0.5|a|^2 + 1 (survive). Terminates when the torso
    height leaves [0.2, 1.0], as Brax's ant does. Observation: Brax's (no torso xy).
    Test split: a in the sectors [60, 90), [180, 210), [300, 330) degrees.
    """

    brax_name = "ant"
    default_ctrl_cost_weight = 0.5
    survive_reward = 1.0
    healthy_z = (0.2, 1.0)
    metric_names = ("x_velocity", "y_velocity", "reward_task", "reward_ctrl", "reward_survive")

    def task_step(self, prev, cur, action, task):
        velocity = (_torso_xy(cur) - _torso_xy(prev)) / self.dt
        task_reward = jnp.dot(velocity, task)
        ctrl = self.ctrl_cost(action)
        done = _outside(cur.x.pos[0, 2], *self.healthy_z)
        metrics = {
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
            "reward_task": task_reward,
            "reward_ctrl": -ctrl,
            "reward_survive": jnp.asarray(self.survive_reward),
        }
        return task_reward - ctrl + self.survive_reward, done, metrics


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


class HumanoidDir(_DirectionTask, BraxTaskEnv):
    """Humanoid walking in a direction (task [cos a, sin a], a ~ U[0, 2 pi)).

    Reward, with Brax's humanoid weights: 1.25 * centre-of-mass xy velocity . direction
    - 0.1|ctrl|^2 + 5 (alive). Actions in [-1, 1] are rescaled to the actuator range, and the
    control cost is on the rescaled control, as in Brax. Terminates when the torso height leaves
    [1.0, 2.0], as Brax's humanoid does.
    Test split: a in the sectors [60, 90), [180, 210), [300, 330) degrees.
    """

    brax_name = "humanoid"
    default_ctrl_cost_weight = 0.1
    forward_weight = 1.25
    alive_reward = 5.0
    healthy_z = (1.0, 2.0)
    metric_names = ("x_velocity", "y_velocity", "reward_task", "reward_ctrl", "reward_alive")

    def to_ctrl(self, action: jax.Array) -> jax.Array:
        low, high = self.brax_env.sys.actuator.ctrl_range.T
        return low + (action + 1) * 0.5 * (high - low)

    def observe(self, pipeline_state: Any, action: jax.Array) -> jax.Array:
        return self.brax_env._get_obs(pipeline_state, action)

    def _com_xy(self, pipeline_state: Any) -> jax.Array:
        return self.brax_env._com(pipeline_state)[0][:2]

    def task_step(self, prev, cur, action, task):
        velocity = (self._com_xy(cur) - self._com_xy(prev)) / self.dt
        task_reward = self.forward_weight * jnp.dot(velocity, task)
        ctrl = self.ctrl_cost(action)
        done = _outside(cur.x.pos[0, 2], *self.healthy_z)
        metrics = {
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
            "reward_task": task_reward,
            "reward_ctrl": -ctrl,
            "reward_alive": jnp.asarray(self.alive_reward),
        }
        return task_reward - ctrl + self.alive_reward, done, metrics

"""Goal-reaching manipulation tasks on Brax's reacher and pusher: analogues of Meta-World ML1
reach and push.

The goal is hidden from the observation (it is what the agent must infer from rewards); the
task vector holds it. Rewards are dense distances as in Brax's envs; `metrics['success']` is 1.0
on a step whose fingertip (reacher) or object (pusher) ends within `success_radius` of the goal.
Held-out test splits use `brax_task.split_fraction`: 3 of 12 equal bins of one goal coordinate
(reacher: the goal's angle, pusher: the goal's x) are test-only, the other 9 train-only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax import base, math
from brax.envs.base import State

from hyperjax.envs.brax_task import BraxTaskEnv, split_fraction
from hyperjax.errors import check_positive

_TIP_OFFSET = base.Transform.create(pos=jnp.array([0.11, 0.0, 0.0]))  # fingertip in link1 frame


class ReacherGoal(BraxTaskEnv):
    """Move a 2-link planar arm's fingertip to a hidden goal (Meta-World reach analogue).

    Task: goal (x, y) in metres, on a disc around the arm's base: radius in [0.05, 0.2]
    (area-uniform), angle uniform within the split's sectors (test: the 30-degree sectors starting
    at 60, 180 and 300 degrees; train: the other nine). The arm reaches 0.21 m.
    Observation (8): cos and sin of the 2 joint angles, the 2 joint velocities, fingertip (x, y).
    Action (2): joint torques in [-1, 1]. Reward: -|fingertip - goal| - ctrl_cost_weight |a|^2.
    Success: fingertip within `success_radius` (default 0.02 m, about where the fingertip and
    target spheres touch) of the goal. 100 steps of 0.02 s, one episode per trial.
    """

    brax_name = "reacher"
    default_ctrl_cost_weight = 1.0  # as Brax's reacher
    metric_names = ("reward_dist", "reward_ctrl", "distance", "success")
    episode_length = 100
    episodes_per_trial = 1
    min_radius, max_radius = 0.05, 0.2

    def __init__(
        self,
        backend: str = "positional",
        ctrl_cost_weight: float | None = None,
        success_radius: float = 0.02,
    ):
        super().__init__(backend=backend, ctrl_cost_weight=ctrl_cost_weight)
        check_positive("env.success_radius", success_radius)
        self.success_radius = float(success_radius)

    @property
    def task_size(self) -> int:
        return 2

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        angle_key, radius_key = jax.random.split(rng)
        angle = 2.0 * jnp.pi * split_fraction(angle_key, split)
        lo, hi = self.min_radius**2, self.max_radius**2
        radius = jnp.sqrt(jax.random.uniform(radius_key, minval=lo, maxval=hi))
        return radius * jnp.array([jnp.cos(angle), jnp.sin(angle)])

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        # Brax's reacher reset (arm angles +-0.1, velocities +-0.005), with the target body (two
        # slide joints, only drawn) placed at the task's goal instead of a random one.
        sys = self.brax_env.sys
        q_key, qd_key = jax.random.split(rng)
        q = sys.init_q + jax.random.uniform(q_key, (sys.q_size(),), minval=-0.1, maxval=0.1)
        qd = jax.random.uniform(qd_key, (sys.qd_size(),), minval=-0.005, maxval=0.005)
        q, qd = q.at[2:].set(task), qd.at[2:].set(0.0)
        pipeline_state = self.brax_env.pipeline_init(q, qd)
        zero = jnp.zeros(())
        distance = self.distance(pipeline_state, task)
        metrics = dict(reward_dist=zero, reward_ctrl=zero, distance=distance, success=zero)
        return State(
            pipeline_state,
            self.observe(pipeline_state, jnp.zeros(self.action_size)),
            zero,
            zero,
            metrics,
            {"task": jnp.asarray(task, jnp.float32)},
        )

    def fingertip(self, pipeline_state: base.State) -> jax.Array:
        """World (x, y) of the fingertip."""
        return pipeline_state.x.take(1).do(_TIP_OFFSET).pos[:2]

    def distance(self, pipeline_state: base.State, task: jax.Array) -> jax.Array:
        return math.safe_norm(self.fingertip(pipeline_state) - task)

    def observe(self, pipeline_state: base.State, action: jax.Array) -> jax.Array:
        theta = pipeline_state.q[:2]
        return jnp.concatenate(
            [
                jnp.cos(theta),
                jnp.sin(theta),
                pipeline_state.qd[:2],
                self.fingertip(pipeline_state),
            ]
        )

    def task_step(self, prev, cur, action, task):
        distance = self.distance(cur, task)
        ctrl = self.ctrl_cost(action)
        metrics = dict(
            reward_dist=-distance,
            reward_ctrl=-ctrl,
            distance=distance,
            success=(distance < self.success_radius).astype(jnp.float32),
        )
        return -distance - ctrl, jnp.zeros(()), metrics


class PusherGoal(BraxTaskEnv):
    """Push a puck to a hidden goal with a 7-dof arm (Meta-World push analogue).

    Task: (object x, object y, goal x, goal y), world metres. The goal is Brax's goal spot
    (0.45, -0.05) shifted by x in [-0.1, 0.1] (the split's bins) and y in [-0.1, 0.1]; the object
    starts at the goal shifted by x in [-0.15, 0.15], y in [-0.3, -0.15] (between arm and goal,
    as in Brax, at least 0.15 m away). Observation (20): the 7 arm joint angles and velocities,
    the arm tip and the object centre (x, y, z). Action (7) in [-1, 1], scaled to the actuators'
    [-2, 2]. Reward as Brax's pusher, on the new state: -|object - goal| (x, y)
    - 0.5 |object - tip| - ctrl_cost_weight |ctrl|^2. Success: object centre within
    `success_radius` (default 0.05 m, the puck's radius; Meta-World push's threshold) of the goal.
    200 steps of 0.05 s, one episode per trial.
    """

    brax_name = "pusher"
    default_ctrl_cost_weight = 0.1  # as Brax's pusher
    metric_names = ("reward_dist", "reward_near", "reward_ctrl", "distance", "success")
    episode_length = 200
    episodes_per_trial = 1
    goal_center = (0.45, -0.05)  # the goal and object bodies' rest position

    def __init__(
        self,
        backend: str = "generalized",
        ctrl_cost_weight: float | None = None,
        success_radius: float = 0.05,
    ):
        super().__init__(backend=backend, ctrl_cost_weight=ctrl_cost_weight)
        check_positive("env.success_radius", success_radius)
        self.success_radius = float(success_radius)
        env = self.brax_env
        mj = env.sys.mj_model
        # q addresses of the slide joints, in (x, y) order.
        self._object_q = [mj.joint(f"obj_slide{a}").qposadr[0] for a in "xy"]
        self._goal_q = [mj.joint(f"goal_slide{a}").qposadr[0] for a in "xy"]
        self._tip_idx = env.sys.link_names.index("r_wrist_flex_link")  # as Brax's pusher
        self._object_idx = env.sys.link_names.index("object")

    @property
    def task_size(self) -> int:
        return 4

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        x_key, y_key, obj_key = jax.random.split(rng, 3)
        goal = jnp.asarray(self.goal_center) + jnp.array(
            [
                0.2 * split_fraction(x_key, split) - 0.1,
                jax.random.uniform(y_key, minval=-0.1, maxval=0.1),
            ]
        )
        offset = jax.random.uniform(
            obj_key, (2,), minval=jnp.array([-0.15, -0.3]), maxval=jnp.array([0.15, -0.15])
        )
        return jnp.concatenate([goal + offset, goal])

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        # Brax's pusher reset: nominal arm pose, velocities +-0.005, object and goal still.
        sys = self.brax_env.sys
        center = jnp.asarray(self.goal_center)
        q = sys.init_q.at[jnp.array(self._object_q)].set(task[:2] - center)
        q = q.at[jnp.array(self._goal_q)].set(task[2:] - center)
        qd = jax.random.uniform(rng, (sys.qd_size(),), minval=-0.005, maxval=0.005)
        qd = qd.at[-4:].set(0.0)
        pipeline_state = self.brax_env.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = {name: zero for name in self.metric_names}
        metrics["distance"] = self.distance(pipeline_state, task)
        return State(
            pipeline_state,
            self.observe(pipeline_state, jnp.zeros(self.action_size)),
            zero,
            zero,
            metrics,
            {"task": jnp.asarray(task, jnp.float32)},
        )

    def to_ctrl(self, action: jax.Array) -> jax.Array:
        low, high = self.brax_env.sys.actuator.ctrl_range.T
        return low + (action + 1.0) * 0.5 * (high - low)

    def _centres(self, pipeline_state: base.State) -> tuple[jax.Array, jax.Array]:
        """World centres of mass of the arm tip and the object."""
        inertia_pos = self.brax_env.sys.link.inertia.transform.pos
        x_i = pipeline_state.x.vmap().do(base.Transform.create(pos=inertia_pos))
        return x_i.pos[self._tip_idx], x_i.pos[self._object_idx]

    def object_xy(self, pipeline_state: base.State) -> jax.Array:
        return pipeline_state.x.pos[self._object_idx, :2]

    def distance(self, pipeline_state: base.State, task: jax.Array) -> jax.Array:
        return math.safe_norm(self.object_xy(pipeline_state) - task[2:])

    def observe(self, pipeline_state: base.State, action: jax.Array) -> jax.Array:
        tip, obj = self._centres(pipeline_state)
        return jnp.concatenate([pipeline_state.q[:7], pipeline_state.qd[:7], tip, obj])

    def task_step(self, prev, cur, action, task):
        distance = self.distance(cur, task)
        tip, obj = self._centres(cur)
        near = math.safe_norm(obj - tip)
        ctrl = self.ctrl_cost(action)
        metrics = dict(
            reward_dist=-distance,
            reward_near=-near,
            reward_ctrl=-ctrl,
            distance=distance,
            success=(distance < self.success_radius).astype(jnp.float32),
        )
        return -distance - 0.5 * near - ctrl, jnp.zeros(()), metrics

"""Meta-World's task classes as ML1 distributions (Yu et al. 2019; `metaworld` 3.1.1) on MJX.

Ported: ML10's 15 classes (`meta_world_tasks.TASKS`), each as an ML1 task distribution
(`MetaWorldML1`).

The scene, the task sets and the rules are Meta-World's own, read from the installed package
(`metaworld.asset_path_utils`, `metaworld.ML1`), not copied here. What Meta-World does on the CPU
(file:line in metaworld 3.1.1), done here inside jit/vmap:

- Action (4): mocap xyz offset `clip(a[:3], -1, 1) / 100`, the mocap clipped to the hand's box,
  and gripper ctrl `(a[3], -a[3])` (clamped to [-1, 1] by the actuators' ctrlrange), then 5
  physics steps of 2.5 ms (sawyer_xyz_env.py:320-336, :580-595).
- Observation (39): hand position, finger opening / 0.1 clipped to [0, 1], object position and
  quaternion (each class's own: scipy's (x, y, z, w), MuJoCo's (w, x, y, z) or zeros) padded
  to 14; the previous step's 18 of those; the goal, zeros under
  ML1's partial observability. Positions after the step (its `mj_forward`), the whole vector clipped
  to the observation space; at a reset, the previous 18 are the current ones
  (sawyer_xyz_env.py:475-527, :610-620, :664-682).
- Reward, `success`: each class's "v2" reward and success flag (`meta_world_rewards`; e.g.
  pick-place: the object within 7 cm of the goal, sawyer_pick_place_v3.py:98). 500 steps, never
  terminates.
- Reset: the hand settled for 50 frames at its class's start with the gripper open
  (`_reset_hand`, sawyer_xyz_env.py:684-695), then what the class's `reset_model` sets: the
  object at the task's position at rest, or a fixture (drawer, door, window, button box) moved
  to the task's position in the model and its joint set (drawer pulled out, door swung open).
  The hand settles far from every fixture, so the settle runs once per class, on CPU MuJoCo; the
  moved body is a per-env model field (`MetaWorldML1.system`), as Brax's domain randomisation.
- Tasks: ML1's 50 train and 50 test tasks (`metaworld.ML1(name, seed)`, __init__.py:271-299),
  each a random vector: object xyz and goal xyz (reach, push, pick-place; push puts both at the
  object's resting height, as its `reset_model`), or the fixture's xyz.

What MJX cannot run as Meta-World wrote it (docs/fidelity.md, "Meta-World"): every colliding
cylinder (the object, door and window handles, the button) becomes a 16-sided convex prism (MJX
has no cylinder-box collision), collision hulls keep
at most 32 vertices, the fingers' 1 mm contact margin is dropped (MJX has no margin on mesh
pairs), the floor 0.9 m below the table top does not collide, and each step keeps the
`max_contacts` deepest contacts per contact dimension (MJX's `max_contact_points`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from brax.envs.base import State
from mujoco import mjx

from hyperjax.envs.base import SPLITS, MetaEnv
from hyperjax.envs.meta_world_expert import set_mocap_welds, with_weld_fix
from hyperjax.envs.meta_world_rewards import METRICS, Scene, Start
from hyperjax.envs.meta_world_tasks import TASKS, Probe
from hyperjax.errors import ConfigError, check_choice, check_positive

FRAME_SKIP = 5
ACTION_SCALE = 1.0 / 100
HAND_SPACE = (np.array([-0.525, 0.348, -0.0525]), np.array([0.525, 1.025, 0.7]))
MOCAP_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
OBJECT_OBS = 14  # object pos+quat slots in an observation (Meta-World's `_obs_obj_max_len`)

# The top of the hand's reachable box, the mocap's upper clip (MW `hand_high`: the same in every
# ported class, e.g. sawyer_pick_place_v3.py:40-45, 59-63; the lower clip is `SawyerTask.hand_low`).
MOCAP_HIGH = np.array([0.5, 1.0, 0.5])


def _joint_id(model: mujoco.MjModel, name: str) -> int:
    """A joint by its name, or the first joint of the body so named (sweep's unnamed one)."""
    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint >= 0:
        return int(joint)
    return int(model.body_jntadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)])


def require_metaworld():
    """The `metaworld` package, with its MuJoCo 3.17 weld fix; a one-line error if missing."""
    try:
        import metaworld
    except ModuleNotFoundError:
        raise ConfigError(
            "env: Meta-World tasks read the `metaworld` package (3.1.1), which is not installed; "
            "run `make install` (it installs metaworld==3.1.1 without its mujoco==3.3.0 pin)"
        ) from None
    return with_weld_fix(metaworld)


def check_task(task: str) -> None:
    check_choice("env.task", task, TASKS)


def sawyer_model(xml: str, max_contacts: int = 16, prism_sides: int = 16) -> mujoco.MjModel:
    """Meta-World's scene with the changes MJX needs (module docstring), as an `MjModel`."""
    from metaworld.asset_path_utils import full_V3_path_for

    spec = mujoco.MjSpec.from_file(full_V3_path_for(xml))
    for mesh in spec.meshes:
        mesh.maxhullvert = 32  # the gripper base's hull has 883 vertices: 4x slower steps
    for index, geom in enumerate(spec.geoms):
        collides = geom.contype or geom.conaffinity
        if collides and geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER:
            name = f"{geom.name or f'geom{index}'}_prism"
            spec.add_mesh(name=name, uservert=_prism(geom.size[0], geom.size[1], prism_sides))
            geom.type = mujoco.mjtGeom.mjGEOM_MESH
            geom.meshname = name
        if collides and geom.type == mujoco.mjtGeom.mjGEOM_PLANE:
            geom.contype = geom.conaffinity = 0  # the floor, 0.91 m below the table top
        geom.margin = 0.0
    spec.add_numeric(name="max_contact_points", data=[float(max_contacts)])
    model = spec.compile()
    set_mocap_welds(model)
    return model


def _prism(radius: float, half_height: float, sides: int) -> list[float]:
    """Vertices of a regular prism inscribing a cylinder along z (a MuJoCo mesh's convex hull)."""
    angle = 2 * np.pi * np.arange(sides) / sides
    ring = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    bottom = np.c_[ring, np.full(sides, -half_height)]
    top = np.c_[ring, np.full(sides, half_height)]
    return np.concatenate([bottom, top]).ravel().tolist()


def settle_hand(model: mujoco.MjModel, hand_init_pos: np.ndarray) -> mujoco.MjData:
    """`_reset_hand`: 50 frames with the mocap at the hand's start and the gripper open.

    Positions (`xpos`, `site_xpos`) are left as `mj_step` leaves them, those of the last
    substep's start: Meta-World reads `init_tcp` there (sawyer_xyz_env.py:684-695), 2e-5 to 8e-5
    m from where the hand ends up, which moves rewards' margins by up to 0.5%."""
    data = mujoco.MjData(model)
    mujoco.mj_resetData(model, data)
    for _ in range(50):
        data.mocap_pos[0] = hand_init_pos
        data.mocap_quat[0] = MOCAP_QUAT
        data.ctrl[:] = [-1.0, 1.0]
        mujoco.mj_step(model, data, nstep=FRAME_SKIP)
    return data


@functools.lru_cache(maxsize=8)
def ml1_task_vectors(task: str, seed: int) -> dict[str, np.ndarray]:
    """ML1's train and test task vectors (50 x 6 each) as `metaworld.ML1(name, seed)` draws them."""
    import pickle

    metaworld = require_metaworld()
    benchmark = metaworld.ML1(f"{task}-v3", seed=seed)
    return {
        split: np.stack([pickle.loads(t.data)["rand_vec"] for t in tasks]).astype(np.float32)
        for split, tasks in (("train", benchmark.train_tasks), ("test", benchmark.test_tasks))
    }


@functools.lru_cache(maxsize=4)
def ml10_task_vectors(seed: int) -> dict[str, dict[str, np.ndarray]]:
    """ML10's task vectors as `metaworld.ML10(seed)` draws them: {class: {split: 50 x d}}, the
    train split for its 10 training classes, the test split for its 5 test classes (one numpy
    stream runs through the classes in order, so a class's tasks differ from ML1's)."""
    import pickle

    metaworld = require_metaworld()
    benchmark = metaworld.ML10(seed=seed)
    vectors: dict[str, dict[str, list]] = {}
    for split, tasks in (("train", benchmark.train_tasks), ("test", benchmark.test_tasks)):
        for task in tasks:
            name = task.env_name.removesuffix("-v3")
            rand_vec = pickle.loads(task.data)["rand_vec"]
            vectors.setdefault(name, {}).setdefault(split, []).append(rand_vec)
    return {
        name: {split: np.stack(rows).astype(np.float32) for split, rows in by_split.items()}
        for name, by_split in vectors.items()
    }


BENCHMARKS = ("ml1", "ml10")


class MetaWorldML1(MetaEnv):
    """ML1 on MJX: one Meta-World task class, its 50 train and 50 test tasks.

    Task vector: the class's `rand_vec` as ML1 draws it (reach, push, pick-place: object xyz and
    goal xyz; the drawers, doors, window and button: the fixture's xyz). `task_seed` picks ML1's
    task sets (`metaworld.ML1(name, seed=task_seed)`; the test set uses seed + 1). With
    `benchmark="ml10"` the tasks are the class's in `metaworld.ML10(seed=task_seed)`: one split
    only, train for ML10's training classes, test for its test classes. `end_on_success` ends
    an episode at its first successful step (the authors' ML10 wrapper; their ML1 does not).
    `max_contacts` caps contacts per contact dimension (MJX's `max_contact_points`). Metrics per
    step: `success`, `near_object`, `grasp_reward`, `in_place_reward`, `obj_to_target`, each as
    the class's `evaluate_state` reports it. Episodes of 500 steps, 2 per trial (the authors'
    ML1 config).
    """

    episode_length = 500
    episodes_per_trial = 2
    # XLA:CPU's fusion emitters turn this scene's kinematics into a program 1,000x slower
    # (265 ms against 0.14 ms for one env); see `hyperjax.envs.compiler_options`.
    cpu_compiler_options = {"xla_cpu_use_fusion_emitters": False}
    # Memory mappings a compiled XLA:CPU program holds per scene it steps (`hyperjax.map_count`):
    # measured with ML10's ten-scene training programs, about 20,000 each.
    cpu_mappings_per_scene = 2_000

    def __init__(
        self,
        task: str = "pick-place",
        task_seed: int = 0,
        max_contacts: int = 16,
        benchmark: str = "ml1",
        end_on_success: bool = False,
    ):
        check_task(task)
        check_positive("env.max_contacts", max_contacts)
        check_choice("env.benchmark", benchmark, BENCHMARKS)
        require_metaworld()
        self.task_name = task
        self.task_seed = int(task_seed)
        self.benchmark = benchmark
        self.end_on_success = bool(end_on_success)
        if benchmark == "ml1":
            self.tasks = ml1_task_vectors(task, self.task_seed)
        else:
            self.tasks = ml10_task_vectors(self.task_seed)[task]
        self.spec = TASKS[task]
        self.mj_model = sawyer_model(self.spec.xml, int(max_contacts))
        self.sys = mjx.put_model(self.mj_model)
        self.probe = probe = Probe(self.mj_model)
        self._hand_init_pos = np.asarray(self.spec.hand_init_pos)
        self._mocap_low = np.asarray(self.spec.hand_low)
        settled = settle_hand(self.mj_model, self._hand_init_pos)
        self._settled = mjx.put_data(self.mj_model, settled)
        self._table = {s: jnp.asarray(v) for s, v in self.tasks.items()}
        self._hand = probe.id(mujoco.mjtObj.mjOBJ_BODY, "hand")
        body = functools.partial(probe.id, mujoco.mjtObj.mjOBJ_BODY)
        self._claws = (body("rightclaw"), body("leftclaw"))
        self._pads = (body("rightpad"), body("leftpad"))
        self._tcp_sites = np.array(
            [probe.id(mujoco.mjtObj.mjOBJ_SITE, f"{side}EndEffector") for side in ("right", "left")]
        )
        joint = _joint_id(self.mj_model, self.spec.joint)
        self._joint_qpos = int(self.mj_model.jnt_qposadr[joint])
        self._joint_qvel = int(self.mj_model.jnt_dofadr[joint])
        self._joint_dofs = 6 if self.mj_model.jnt_type[joint] == mujoco.mjtJoint.mjJNT_FREE else 1
        self._moved = None if self.spec.moved_body is None else body(self.spec.moved_body)
        # Reset-time constants shared by every task (the hand settles the same way each time, far
        # from the fixtures).
        self._init_tcp = jnp.asarray(settled.site_xpos[self._tcp_sites].mean(0))
        # Where the object reads after the hand's settle (push's `fix_extreme_obj_pos` height).
        self._rest = (self.spec.rest_point or (lambda *a: self.spec.objects(*a)[0]))(
            probe, self._settled
        )
        high = np.r_[HAND_SPACE[1], 1.0, np.full(OBJECT_OBS, np.inf)]
        low = np.r_[HAND_SPACE[0], -1.0, np.full(OBJECT_OBS, -np.inf)]
        self._obs_low = jnp.asarray(np.r_[low, low, np.zeros(3)], jnp.float32)
        self._obs_high = jnp.asarray(np.r_[high, high, np.zeros(3)], jnp.float32)

    # --- the task distribution ---

    @property
    def task_size(self) -> int:
        return int(next(iter(self.tasks.values())).shape[1])

    @property
    def observation_size(self) -> int:
        return 18 * 2 + 3

    @property
    def action_size(self) -> int:
        return 4

    @property
    def dt(self) -> float:
        return float(self.mj_model.opt.timestep) * FRAME_SKIP

    @property
    def backend(self) -> str:
        return "mjx"

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        check_choice("split", split, SPLITS)
        if split not in self._table:
            raise ConfigError(
                f"env.split: {self.task_name!r} is an ML10 {'/'.join(self._table)} class, "
                f"without {split} tasks; allowed: {', '.join(self._table)}"
            )
        table = self._table[split]
        return table[jax.random.randint(rng, (), 0, table.shape[0])]

    # --- physics ---

    def system(self, task: jax.Array) -> mjx.Model:
        """The model with the task's fixture where `reset_model` puts it (`model.body(...).pos`):
        under vmap each env carries its own body position, as Brax's domain randomisation."""
        if self._moved is None:
            return self.sys
        body_pos = self.spec.layout(task, self._rest).body_pos
        return self.sys.replace(body_pos=self.sys.body_pos.at[self._moved].set(body_pos))

    def _reset_data(self, task: jax.Array) -> mjx.Data:
        """The settled hand with the task's layout set (`reset_model` after `_reset_hand`)."""
        data = self._settled_data(task)
        joint_qpos = self.spec.layout(task, self._rest).joint_qpos
        if joint_qpos is not None:
            q, v = self._joint_qpos, self._joint_qvel
            qpos = data.qpos.at[q : q + joint_qpos.shape[0]].set(joint_qpos)
            qvel = data.qvel.at[v : v + self._joint_dofs].set(0.0)
            data = data.replace(qpos=qpos, qvel=qvel)
        return mjx.kinematics(self.system(task), data)

    def _settled_data(self, task: jax.Array) -> mjx.Data:
        """The settled state, made per-env data by adding 0 x the task. As a closed-over constant
        beside a per-env model (a moved fixture) it makes XLA's constant folding evaluate
        broadcast copies of it for every env at compile time: reset compiled in 337 s for 16
        envs of drawer-open, 7.8 s this way (4 envs: 7.5 s either way)."""
        tie = 0.0 * task[0]

        def per_env(x):
            return x + tie.astype(x.dtype) if jnp.issubdtype(x.dtype, jnp.inexact) else x

        return jax.tree.map(per_env, self._settled)

    def start(self, task: jax.Array) -> Start:
        """What the task's reset fixes for its episode (object's start, goal, ...)."""
        return self._start_at(self._reset_data(task), task)

    def _start_at(self, data: mjx.Data, task: jax.Array) -> Start:
        """`start`, read from the reset state already computed."""
        start = self.spec.start(self.probe, data, task, self._rest)
        obs_pos = self.spec.objects(self.probe, data)[0]
        return Start(start.obj_init, start.target, jnp.asarray(start.extra, jnp.float32), obs_pos)

    def _current_obs(self, data: mjx.Data) -> jax.Array:
        """`_get_curr_obs_combined_no_goal` (18)."""
        hand = data.xpos[self._hand]
        right, left = data.xpos[self._claws[0]], data.xpos[self._claws[1]]
        opening = jnp.clip(jnp.linalg.norm(right - left) / 0.1, 0.0, 1.0)
        pos, quat = self.spec.objects(self.probe, data)
        padding = jnp.zeros(OBJECT_OBS - 7, data.qpos.dtype)
        return jnp.concatenate([hand, opening[None], pos, quat.astype(pos.dtype), padding])

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        data = self._reset_data(task)
        current = self._current_obs(data)
        obs = jnp.concatenate([current, current, jnp.zeros(3, current.dtype)])
        zero = jnp.zeros(())
        metrics = {name: zero for name in self.metric_names}
        info = {"task": task, "prev_obs": current, "start": self._start_at(data, task)}
        return State(data, obs, zero, zero, metrics, info)

    metric_names = METRICS

    def step(self, state: State, action: jax.Array) -> State:
        data = state.pipeline_state
        sys = self.system(state.info["task"])
        xyz = jnp.clip(action[:3], -1.0, 1.0) * ACTION_SCALE
        mocap = jnp.clip(data.mocap_pos[0] + xyz, self._mocap_low, MOCAP_HIGH)
        grip = jnp.clip(action[3], -1.0, 1.0)
        data = data.replace(
            mocap_pos=mocap[None].astype(data.mocap_pos.dtype),
            mocap_quat=jnp.asarray(MOCAP_QUAT, data.mocap_quat.dtype)[None],
            ctrl=jnp.stack([grip, -grip]).astype(data.ctrl.dtype),
        )
        data = jax.lax.fori_loop(0, FRAME_SKIP, lambda _, d: mjx.step(sys, d), data)
        data = mjx.kinematics(sys, data)  # positions at the step's end, as its mj_forward
        obs, current, reward, metrics = self.outcome(
            data, state.info["prev_obs"], action, state.info["start"]
        )
        info = {**state.info, "prev_obs": current}
        done = metrics["success"] if self.end_on_success else jnp.zeros(())
        return state.replace(
            pipeline_state=data, obs=obs, reward=reward, done=done, metrics=metrics, info=info
        )

    def outcome(self, data: mjx.Data, prev: jax.Array, action: jax.Array, start: Start):
        """What a step reports from the state it reached (positions current): the clipped
        observation, its current 18 (the next step's previous ones), reward and metrics."""
        current = self._current_obs(data)
        obs = jnp.concatenate([current, prev, jnp.zeros(3, current.dtype)])
        obs = jnp.clip(obs, self._obs_low, self._obs_high)
        reward, metrics = self.spec.reward(self._scene(data), obs, action, start)
        return obs, current, reward, metrics

    def _scene(self, data: mjx.Data) -> Scene:
        return Scene(
            tcp=data.site_xpos[self._tcp_sites].mean(0),
            left_pad=data.xpos[self._pads[1]],
            right_pad=data.xpos[self._pads[0]],
            init_tcp=self._init_tcp,
            hand_init_pos=jnp.asarray(self._hand_init_pos, jnp.float32),
            joint=data.qpos[self._joint_qpos],
            points=(
                jnp.zeros((0, 3))
                if self.spec.points is None
                else self.spec.points(self.probe, data)
            ),
        )

    def at_state(
        self, qpos: jax.Array, qvel: jax.Array, mocap_pos: jax.Array, task: jax.Array
    ) -> mjx.Data:
        """MJX data at a given state (positions computed), e.g. one recorded on Meta-World's env."""
        data = self._settled_data(task).replace(qpos=qpos, qvel=qvel, mocap_pos=mocap_pos[None])
        return mjx.kinematics(self.system(task), data)

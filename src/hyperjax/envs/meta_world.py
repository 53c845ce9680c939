"""Meta-World's ML1 Reach, Push and Pick-Place (Yu et al. 2019; `metaworld` 3.1.1) stepped by MJX.

The scene, the task sets and the rules are Meta-World's own, read from the installed package
(`metaworld.asset_path_utils`, `metaworld.ML1`), not copied here. What Meta-World does on the CPU
(file:line in metaworld 3.1.1), done here inside jit/vmap:

- Action (4): mocap xyz offset `clip(a[:3], -1, 1) / 100`, the mocap clipped to the hand's box,
  and gripper ctrl `(a[3], -a[3])` (clamped to [-1, 1] by the actuators' ctrlrange), then 5
  physics steps of 2.5 ms (sawyer_xyz_env.py:320-336, :580-595).
- Observation (39): hand position, finger opening / 0.1 clipped to [0, 1], object position and
  quaternion (x, y, z, w) padded to 14; the previous step's 18 of those; the goal, zeros under
  ML1's partial observability. Positions after the step (its `mj_forward`), the whole vector clipped
  to the observation space; at a reset, the previous 18 are the current ones
  (sawyer_xyz_env.py:475-527, :610-620, :664-682).
- Reward, `success`: each class's "v2" reward and success flag (`meta_world_rewards`; e.g.
  pick-place: the object within 7 cm of the goal, sawyer_pick_place_v3.py:98). 500 steps, never
  terminates.
- Reset: the hand settled for 50 frames at its start with the gripper open (`_reset_hand`,
  sawyer_xyz_env.py:684-695) then the object put at the task's position at rest. Everything but
  the object's place is the same for every task, so the settle runs once, on CPU MuJoCo.
- Tasks: ML1's 50 train and 50 test tasks (`metaworld.ML1(name, seed)`, __init__.py:271-299),
  each a random vector (object xyz, goal xyz). A task vector here is that vector (push puts
  object and goal at the object's resting height, as its `reset_model`).

What MJX cannot run as Meta-World wrote it (docs/fidelity.md, "Meta-World"): the object's
cylinder becomes a 16-sided convex prism (MJX has no cylinder-box collision), collision hulls keep
at most 32 vertices, the fingers' 1 mm contact margin is dropped (MJX has no margin on mesh
pairs), the floor 0.9 m below the table top does not collide, and each step keeps the
`max_contacts` deepest contacts per contact dimension (MJX's `max_contact_points`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from brax.envs.base import State
from jax.scipy.spatial.transform import Rotation
from mujoco import mjx

from hyperjax.envs.base import SPLITS, MetaEnv
from hyperjax.envs.meta_world_rewards import METRICS, REWARDS, Scene
from hyperjax.errors import ConfigError, check_choice, check_positive


@dataclasses.dataclass(frozen=True)
class SawyerTask:
    """One Meta-World task class: the scene its class loads (MW `model_name`), its scripted
    expert (`metaworld.policies`), and whether its object and goal sit at the object's resting
    height rather than the task vector's z (push: MW envs/sawyer_push_v3.py:148-149)."""

    xml: str
    expert: str
    at_rest_height: bool = False


# The ML1 task classes that run here. All three share the hand's start and reachable box (MW
# envs/sawyer_{reach,push,pick_place}_v3.py `hand_low`, `hand_high`, `hand_init_pos`).
ML1_TASKS = {
    "reach": SawyerTask("sawyer_xyz/sawyer_reach_v3.xml", "SawyerReachV3Policy"),
    "push": SawyerTask("sawyer_xyz/sawyer_push_v3.xml", "SawyerPushV3Policy", at_rest_height=True),
    "pick-place": SawyerTask("sawyer_xyz/sawyer_pick_place_v3.xml", "SawyerPickPlaceV3Policy"),
}
# Meta-World's ML10 split (env_dict.py:336-356); not ported yet, named so a user gets a clear
# error rather than "unknown".
ML10_TRAIN = (
    "reach", "push", "pick-place", "door-open", "drawer-close", "button-press-topdown",
    "peg-insert-side", "window-open", "sweep", "basketball",
)  # fmt: skip
ML10_TEST = ("drawer-open", "door-close", "shelf-place", "sweep-into", "lever-pull")

FRAME_SKIP = 5
ACTION_SCALE = 1.0 / 100
HAND_SPACE = (np.array([-0.525, 0.348, -0.0525]), np.array([0.525, 1.025, 0.7]))
MOCAP_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
OBJECT_OBS = 14  # object pos+quat slots in an observation (Meta-World's `_obs_obj_max_len`)
# Meta-World's welds as `reset_mocap_welds` writes them (sawyer_xyz_env.py:133-140): 11 numbers,
# MuJoCo 3.3's row length. MuJoCo 3.17's rows are 12 long; the 12th keeps its compiled value.
WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])

# The hand's start and reachable box (MW sawyer_pick_place_v3.py:40-45, 59-63; the same in reach
# and push).
HAND = {
    "hand_init_pos": np.array([0.0, 0.6, 0.2]),
    "mocap_low": np.array([-0.5, 0.40, 0.05]),
    "mocap_high": np.array([0.5, 1.0, 0.5]),
}


def require_metaworld():
    """The `metaworld` package, with its MuJoCo 3.17 weld fix; a one-line error if missing."""
    try:
        import metaworld
        from metaworld.sawyer_xyz_env import SawyerMocapBase
    except ModuleNotFoundError:
        raise ConfigError(
            "env: Meta-World tasks read the `metaworld` package (3.1.1), which is not installed; "
            "run `make install` (it installs metaworld==3.1.1 without its mujoco==3.3.0 pin)"
        ) from None
    SawyerMocapBase.reset_mocap_welds = _reset_mocap_welds
    return metaworld


def _reset_mocap_welds(self) -> None:
    """`SawyerMocapBase.reset_mocap_welds` as Meta-World means it, on MuJoCo 3.17's rows."""
    set_mocap_welds(self.model)


def set_mocap_welds(model: mujoco.MjModel) -> None:
    """Write Meta-World's weld data into the first 11 entries of every weld's row."""
    for i in range(model.neq):
        if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
            model.eq_data[i, : len(WELD_DATA)] = WELD_DATA


def check_task(task: str) -> None:
    if task in ML1_TASKS:
        return
    if task in ML10_TRAIN or task in ML10_TEST:
        raise ConfigError(
            f"env.task: Meta-World task {task!r} is not ported to MJX yet; allowed: "
            + ", ".join(ML1_TASKS)
        )
    check_choice("env.task", task, ML1_TASKS)


def sawyer_model(xml: str, max_contacts: int = 16, prism_sides: int = 16) -> mujoco.MjModel:
    """Meta-World's scene with the changes MJX needs (module docstring), as an `MjModel`."""
    from metaworld.asset_path_utils import full_V3_path_for

    spec = mujoco.MjSpec.from_file(full_V3_path_for(xml))
    for mesh in spec.meshes:
        mesh.maxhullvert = 32  # the gripper base's hull has 883 vertices: 4x slower steps
    for geom in spec.geoms:
        collides = geom.contype or geom.conaffinity
        if collides and geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER:
            name = f"{geom.name or 'geom'}_prism"
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
    """`_reset_hand`: 50 frames with the mocap at the hand's start and the gripper open."""
    data = mujoco.MjData(model)
    mujoco.mj_resetData(model, data)
    for _ in range(50):
        data.mocap_pos[0] = hand_init_pos
        data.mocap_quat[0] = MOCAP_QUAT
        data.ctrl[:] = [-1.0, 1.0]
        mujoco.mj_step(model, data, nstep=FRAME_SKIP)
    mujoco.mj_forward(model, data)
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


class MetaWorldML1(MetaEnv):
    """ML1 on MJX: one Meta-World task class, its 50 train and 50 test goals.

    Task vector (6): the object's start (x, y, z) and the goal (x, y, z), as ML1's `rand_vec`.
    `task_seed` picks ML1's task sets (`metaworld.ML1(name, seed=task_seed)`; the test set uses
    seed + 1). `max_contacts` caps contacts per contact dimension (MJX's `max_contact_points`).
    Metrics per step: `success`, `near_object`, `grasp_reward`, `in_place_reward`,
    `obj_to_target`. Episodes of 500 steps, 2 per trial (the authors' ML1 config).
    """

    episode_length = 500
    episodes_per_trial = 2
    # XLA:CPU's fusion emitters turn this scene's kinematics into a program 1,000x slower
    # (265 ms against 0.14 ms for one env); see `hyperjax.envs.compiler_options`.
    cpu_compiler_options = {"xla_cpu_use_fusion_emitters": False}

    def __init__(self, task: str = "pick-place", task_seed: int = 0, max_contacts: int = 16):
        check_task(task)
        check_positive("env.max_contacts", max_contacts)
        require_metaworld()
        self.task_name = task
        self.task_seed = int(task_seed)
        self.tasks = ml1_task_vectors(task, self.task_seed)
        self.spec = ML1_TASKS[task]
        self._reward = REWARDS[task]
        self.mj_model = sawyer_model(self.spec.xml, int(max_contacts))
        self.sys = mjx.put_model(self.mj_model)
        settled = settle_hand(self.mj_model, HAND["hand_init_pos"])
        self._settled = mjx.put_data(self.mj_model, settled)
        self._table = {s: jnp.asarray(v) for s, v in self.tasks.items()}
        ids = functools.partial(mujoco.mj_name2id, self.mj_model)
        self._hand = ids(mujoco.mjtObj.mjOBJ_BODY, "hand")
        self._claws = (
            ids(mujoco.mjtObj.mjOBJ_BODY, "rightclaw"),
            ids(mujoco.mjtObj.mjOBJ_BODY, "leftclaw"),
        )
        self._pads = (
            ids(mujoco.mjtObj.mjOBJ_BODY, "rightpad"),
            ids(mujoco.mjtObj.mjOBJ_BODY, "leftpad"),
        )
        self._obj = ids(mujoco.mjtObj.mjOBJ_BODY, "obj")
        self._tcp_sites = (
            ids(mujoco.mjtObj.mjOBJ_SITE, "rightEndEffector"),
            ids(mujoco.mjtObj.mjOBJ_SITE, "leftEndEffector"),
        )
        obj_joint = self.mj_model.jnt_qposadr[ids(mujoco.mjtObj.mjOBJ_JOINT, "objjoint")]
        self._obj_qpos = int(obj_joint)
        self._obj_qvel = int(self.mj_model.jnt_dofadr[ids(mujoco.mjtObj.mjOBJ_JOINT, "objjoint")])
        # Reset-time constants shared by every task (the hand settles the same way each time).
        self._init_tcp = jnp.asarray(settled.site_xpos[list(self._tcp_sites)].mean(0))
        # Where the object rests after the hand's settle (push's `fix_extreme_obj_pos` z).
        self._rest_height = float(settled.xpos[self._obj][2])
        high = np.r_[HAND_SPACE[1], 1.0, np.full(OBJECT_OBS, np.inf)]
        low = np.r_[HAND_SPACE[0], -1.0, np.full(OBJECT_OBS, -np.inf)]
        self._obs_low = jnp.asarray(np.r_[low, low, np.zeros(3)], jnp.float32)
        self._obs_high = jnp.asarray(np.r_[high, high, np.zeros(3)], jnp.float32)

    # --- the task distribution ---

    @property
    def task_size(self) -> int:
        return 6

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
        table = self._table[split]
        return table[jax.random.randint(rng, (), 0, table.shape[0])]

    # --- physics ---

    def _place_object(self, task: jax.Array) -> mjx.Data:
        """The settled hand with the object at rest at the task's start (`_set_obj_xyz`)."""
        data = self._settled
        qpos = data.qpos.at[self._obj_qpos : self._obj_qpos + 3].set(self.placement(task)[0])
        qvel = data.qvel.at[self._obj_qvel : self._obj_qvel + 6].set(0.0)
        return mjx.kinematics(self.sys, data.replace(qpos=qpos, qvel=qvel))

    def _current_obs(self, data: mjx.Data) -> jax.Array:
        """`_get_curr_obs_combined_no_goal` (18)."""
        hand = data.xpos[self._hand]
        right, left = data.xpos[self._claws[0]], data.xpos[self._claws[1]]
        opening = jnp.clip(jnp.linalg.norm(right - left) / 0.1, 0.0, 1.0)
        # The object's geom frame is its body's (the XML's cylinder sits at the body origin).
        quat = Rotation.from_matrix(data.xmat[self._obj]).as_quat()
        padding = jnp.zeros(OBJECT_OBS - 7, data.qpos.dtype)
        return jnp.concatenate([hand, opening[None], data.xpos[self._obj], quat, padding])

    def _tcp(self, data: mjx.Data) -> jax.Array:
        return data.site_xpos[np.array(self._tcp_sites)].mean(0)

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        data = self._place_object(task)
        current = self._current_obs(data)
        obs = jnp.concatenate([current, current, jnp.zeros(3, current.dtype)])
        zero = jnp.zeros(())
        metrics = {name: zero for name in self.metric_names}
        info = {"task": task, "prev_obs": current}
        return State(data, obs, zero, zero, metrics, info)

    metric_names = METRICS

    def step(self, state: State, action: jax.Array) -> State:
        data = state.pipeline_state
        xyz = jnp.clip(action[:3], -1.0, 1.0) * ACTION_SCALE
        mocap = jnp.clip(data.mocap_pos[0] + xyz, HAND["mocap_low"], HAND["mocap_high"])
        grip = jnp.clip(action[3], -1.0, 1.0)
        data = data.replace(
            mocap_pos=mocap[None].astype(data.mocap_pos.dtype),
            mocap_quat=jnp.asarray(MOCAP_QUAT, data.mocap_quat.dtype)[None],
            ctrl=jnp.stack([grip, -grip]).astype(data.ctrl.dtype),
        )
        data = jax.lax.fori_loop(0, FRAME_SKIP, lambda _, d: mjx.step(self.sys, d), data)
        data = mjx.kinematics(self.sys, data)  # positions at the step's end, as its mj_forward
        obs, current, reward, metrics = self.outcome(
            data, state.info["prev_obs"], action, state.info["task"]
        )
        info = {**state.info, "prev_obs": current}
        return state.replace(
            pipeline_state=data, obs=obs, reward=reward, done=jnp.zeros(()), metrics=metrics,
            info=info,
        )  # fmt: skip

    def outcome(self, data: mjx.Data, prev: jax.Array, action: jax.Array, task: jax.Array):
        """What a step reports from the state it reached (positions current): the clipped
        observation, its current 18 (the next step's previous ones), reward and metrics."""
        current = self._current_obs(data)
        obs = jnp.concatenate([current, prev, jnp.zeros(3, current.dtype)])
        obs = jnp.clip(obs, self._obs_low, self._obs_high)
        reward, metrics = self._reward(self._scene(data), obs, action, *self.placement(task))
        return obs, current, reward, metrics

    def placement(self, task: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The object's start and the goal a task vector gives (MW `reset_model`)."""
        obj_init, target = task[:3], task[3:]
        if self.spec.at_rest_height:
            obj_init = obj_init.at[2].set(self._rest_height)
            target = target.at[2].set(self._rest_height)
        return obj_init, target

    def _scene(self, data: mjx.Data) -> Scene:
        return Scene(
            tcp=self._tcp(data),
            left_pad=data.xpos[self._pads[1]],
            right_pad=data.xpos[self._pads[0]],
            init_tcp=self._init_tcp,
            hand_init_pos=jnp.asarray(HAND["hand_init_pos"], jnp.float32),
        )

    def at_state(self, qpos: jax.Array, qvel: jax.Array, mocap_pos: jax.Array) -> mjx.Data:
        """MJX data at a given state (positions computed), e.g. one recorded on Meta-World's env."""
        data = self._settled.replace(qpos=qpos, qvel=qvel, mocap_pos=mocap_pos[None])
        return mjx.kinematics(self.sys, data)


class MetaWorldML1Reach(MetaWorldML1):
    """`ml1-reach`: ML1 Reach (`MetaWorldML1` with task "reach")."""

    def __init__(self, task_seed: int = 0, max_contacts: int = 16):
        super().__init__("reach", task_seed, max_contacts)


class MetaWorldML1Push(MetaWorldML1):
    """`ml1-push`: ML1 Push (`MetaWorldML1` with task "push")."""

    def __init__(self, task_seed: int = 0, max_contacts: int = 16):
        super().__init__("push", task_seed, max_contacts)

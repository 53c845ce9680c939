"""Meta-World's 15 ML10 task classes, one `SawyerTask` row each (metaworld 3.1.1, "MW").

A row says what its env file (MW envs/sawyer_<class>_v3.py) does that the others do not: its
scene, its scripted expert, its v2 reward (`meta_world_rewards`), what its observation reads,
what its `reset_model` sets from the task vector and what it keeps for the reward. The MJX env
that runs any row is `hyperjax.envs.meta_world.MetaWorldML1`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mujoco
from jax.scipy.spatial.transform import Rotation
from mujoco import mjx

from hyperjax.envs import meta_world_rewards as rewards
from hyperjax.envs.meta_world_rewards import Start


class Probe:
    """Named places of a Meta-World scene read from MJX data; names resolve to ids on the host."""

    def __init__(self, model: mujoco.MjModel):
        self.model = model

    def id(self, kind: mujoco.mjtObj, name: str) -> int:
        index = mujoco.mj_name2id(self.model, kind, name)
        if index < 0:
            raise KeyError(f"{name!r} is not in the scene")
        return int(index)

    def body(self, data: mjx.Data, name: str) -> jax.Array:
        """`get_body_com(name)`: gymnasium's is the body frame's position, not its COM."""
        return data.xpos[self.id(mujoco.mjtObj.mjOBJ_BODY, name)]

    def body_wxyz(self, data: mjx.Data, name: str) -> jax.Array:
        """`data.body(name).xquat`, MuJoCo's (w, x, y, z)."""
        return data.xquat[self.id(mujoco.mjtObj.mjOBJ_BODY, name)]

    def body_xyzw(self, data: mjx.Data, name: str) -> jax.Array:
        """scipy's `Rotation.from_matrix(xmat).as_quat()`, (x, y, z, w)."""
        return Rotation.from_matrix(data.xmat[self.id(mujoco.mjtObj.mjOBJ_BODY, name)]).as_quat()

    def geom(self, data: mjx.Data, name: str) -> jax.Array:
        return data.geom_xpos[self.id(mujoco.mjtObj.mjOBJ_GEOM, name)]

    def geom_xyzw(self, data: mjx.Data, name: str) -> jax.Array:
        index = self.id(mujoco.mjtObj.mjOBJ_GEOM, name)
        return Rotation.from_matrix(data.geom_xmat[index]).as_quat()

    def site(self, data: mjx.Data, name: str) -> jax.Array:
        return data.site_xpos[self.id(mujoco.mjtObj.mjOBJ_SITE, name)]

    def site_xyzw(self, data: mjx.Data, name: str) -> jax.Array:
        index = self.id(mujoco.mjtObj.mjOBJ_SITE, name)
        return Rotation.from_matrix(data.site_xmat[index]).as_quat()


class Layout(NamedTuple):
    """What a class's `reset_model` sets from the task vector: a body's position in the model
    (`model.body(...).pos`, None if it moves none) and its joint's position (None: as settled)."""

    body_pos: jax.Array | None
    joint_qpos: jax.Array | None


@dataclasses.dataclass(frozen=True)
class SawyerTask:
    """One Meta-World task class, as its env file (MW envs/sawyer_<class>_v3.py) defines it.

    `objects(probe, data)`: the object's position and quaternion in the observation
    (`_get_pos_objects`, `_get_quat_objects`). `layout(task, rest)`: what the reset sets.
    `start(probe, data, task, rest)`: what the reset fixes for the reward, read from the reset's
    state. `rest`: where `rest_point(probe, data)` (default: the object's observed position)
    reads after the hand's settle. `moved_body`: the body `reset_model` moves; `joint`: the
    joint it sets, whose position the reward may read (by name, or by its body's name where the
    joint has none). `points(probe, data)`: places the reward reads each step (`Scene.points`).
    """

    xml: str
    expert: str
    reward: Callable
    objects: Callable
    layout: Callable
    start: Callable
    joint: str
    moved_body: str | None = None
    points: Callable | None = None
    rest_point: Callable | None = None
    hand_init_pos: tuple[float, float, float] = (0.0, 0.6, 0.2)
    hand_low: tuple[float, float, float] = (-0.5, 0.40, 0.05)  # the mocap's lower clip


def _free_object(probe: Probe, data: mjx.Data):
    """The object of reach, push and pick-place: its body's position, quaternion (x, y, z, w)
    (its geom frame is its body's: the XML's cylinder sits at the body origin)."""
    return probe.body(data, "obj"), probe.body_xyzw(data, "obj")


def _object_and_goal(at_rest_height: bool):
    """Reach, push, pick-place: the task vector is (object xyz, goal xyz); push puts both at the
    object's resting height (MW envs/sawyer_push_v3.py:148-149)."""

    def placement(task, rest):
        obj_init, target = task[:3], task[3:]
        if at_rest_height:
            obj_init, target = obj_init.at[2].set(rest[2]), target.at[2].set(rest[2])
        return obj_init, target

    def layout(task, rest):
        return Layout(None, placement(task, rest)[0])

    def start(probe, data, task, rest):
        return Start(*placement(task, rest))

    return layout, start


def _moved(offset: tuple[float, float, float], joint_qpos: float | None = None):
    """A fixture the task vector places (`model.body(...).pos = rand_vec`), its goal at a fixed
    offset from it, its joint optionally set."""

    def layout(task, rest):
        joint = None if joint_qpos is None else jnp.full((1,), joint_qpos, task.dtype)
        return Layout(task[:3], joint)

    def start(probe, data, task, rest):
        return Start(task[:3], task[:3] + jnp.asarray(offset))

    return layout, start


def _drawer(probe: Probe, data: mjx.Data, offset, quat: bool):
    pos = probe.body(data, "drawer_link") + jnp.asarray(offset)
    wxyz = probe.body_wxyz(data, "drawer_link") if quat else jnp.zeros(4, pos.dtype)
    return pos, wxyz


def _door(probe: Probe, data: mjx.Data):
    return probe.geom(data, "handle"), probe.geom_xyzw(data, "handle")


def _drawer_close_start(probe, data, task, rest):
    """The drawer pulled out (joint at -0.15); the handle's place then is `obj_init_pos`
    (MW envs/sawyer_drawer_close_v3.py:104-118)."""
    handle = _drawer(probe, data, (0.0, -0.16, 0.05), quat=False)[0]
    return Start(handle, task[:3] + jnp.array([0.0, -0.16, 0.09]))


def _button_start(probe, data, task, rest):
    """The target is the hole's site where the box now is; `_obj_to_target_init` its height
    below the button's start (MW envs/sawyer_button_press_topdown_v3.py:105-120)."""
    target = probe.site(data, "hole")
    return Start(task[:3], target, jnp.abs(target[2] - probe.site(data, "buttonStart")[2]))


def _swept_puck(goal: tuple[float, float, float], goal_y_from_task: bool, rest_height: bool):
    """Sweep, sweep-into: the puck at the task's x-y, at the init config's height (sweep,
    0.02) or where it rested after the hand's settle (sweep-into); the goal fixed, sweep's
    y the puck's (MW envs/sawyer_sweep_v3.py:99-130, sawyer_sweep_into_goal_v3.py:101-121)."""

    def obj_init(task, rest):
        return jnp.stack([task[0], task[1], rest[2] if rest_height else jnp.asarray(0.02)])

    def layout(task, rest):
        return Layout(None, obj_init(task, rest))

    def start(probe, data, task, rest):
        target = jnp.asarray(goal, task.dtype)
        if goal_y_from_task:
            target = target.at[1].set(task[1])
        return Start(obj_init(task, rest), target)

    return layout, start


def _lever_start(probe, data, task, rest):
    """The lever's end starts 20 cm in front of and 25 cm above its base; the goal is 45 cm above
    it (MW envs/sawyer_lever_pull_v3.py:113-130). The reward reads the end's start as
    `obj_init` (MW's `_lever_pos_init`; its `obj_init_pos`, the base, is unused in v2)."""
    radius = 0.2
    lever_init = task[:3] + jnp.array([0.12, -radius, 0.25])
    return Start(lever_init, task[:3] + jnp.array([0.12, 0.0, 0.25 + radius]))


def _shelf_layout(task, rest):
    """The shelf 30 cm below the task's goal; the block at the task's x-y, at the height it rested
    at after the hand's settle (MW envs/sawyer_shelf_place_v3.py:109-135)."""
    return Layout(task[3:6] - jnp.array([0.0, 0.0, 0.3]), _shelf_block(task, rest))


def _shelf_block(task, rest):
    return jnp.stack([task[0], task[1], rest[2]])


def _shelf_start(probe, data, task, rest):
    """The goal: the goal site's offset in the shelf plus the shelf's place."""
    goal_offset = probe.model.site_pos[probe.id(mujoco.mjtObj.mjOBJ_SITE, "goal")]
    shelf = task[3:6] - jnp.array([0.0, 0.0, 0.3])
    return Start(_shelf_block(task, rest), shelf + jnp.asarray(goal_offset, task.dtype))


def _basketball_layout(task, rest):
    """The hoop at the task's goal, the ball at the task's x-y, 3 cm up (init config's height)
    (MW envs/sawyer_basketball_v3.py:109-139)."""
    return Layout(task[3:6], jnp.stack([task[0], task[1], jnp.asarray(0.03, task.dtype)]))


def _basketball_start(probe, data, task, rest):
    """The target is the goal site where the hoop now is (Meta-World writes it back as the site's
    offset each reset, but the site's position it reads each step stays the hoop's)."""
    ball = _basketball_layout(task, rest).joint_qpos
    return Start(ball, probe.site(data, "goal"))


def _peg_layout(task, rest):
    """The peg at the task's first xyz, the box at its second (MW
    envs/sawyer_peg_insertion_side_v3.py:137-162)."""
    return Layout(task[3:6], task[:3])


def _peg_start(probe, data, task, rest):
    """The goal: the hole, 3 cm along x and 13 cm above the box's origin; `rest` is the peg head
    after the hand's settle (Meta-World reads `peg_head_pos_init` before moving the peg)."""
    return Start(task[:3], task[3:6] + jnp.array([0.03, 0.0, 0.13]), rest)


def _peg_points(probe, data):
    corners = [
        f"{c}_corner_collision_box_{i}" for i in (1, 2) for c in ("bottom_right", "top_left")
    ]
    return jnp.stack([probe.site(data, name) for name in ("pegHead", *corners)])


_REACH = _object_and_goal(at_rest_height=False)
_PUSH = _object_and_goal(at_rest_height=True)
_DRAWER_OPEN = _moved((0.0, -0.36, 0.09))
_DOOR_OPEN = _moved((-0.3, -0.45, 0.0), joint_qpos=0.0)
_DOOR_CLOSE = _moved((0.2, -0.2, 0.0), joint_qpos=-1.5708)
_WINDOW_OPEN = _moved((0.2, 0.0, 0.0), joint_qpos=0.0)

# The task classes that run here; hand starts from each class's `init_config` (every one shares
# the hand's reachable box, `hand_low` / `hand_high` = (-0.5, 0.4, 0.05) / (0.5, 1, 0.5)).
TASKS = {
    "reach": SawyerTask(
        "sawyer_xyz/sawyer_reach_v3.xml", "SawyerReachV3Policy", rewards.reach, _free_object,
        *_REACH, joint="objjoint",
    ),
    "push": SawyerTask(
        "sawyer_xyz/sawyer_push_v3.xml", "SawyerPushV3Policy", rewards.push, _free_object,
        *_PUSH, joint="objjoint",
    ),
    "pick-place": SawyerTask(
        "sawyer_xyz/sawyer_pick_place_v3.xml", "SawyerPickPlaceV3Policy", rewards.pick_place,
        _free_object, *_REACH, joint="objjoint",
    ),
    # MW envs/sawyer_drawer_open_v3.py:93-113: the drawer body at the task's place, closed.
    "drawer-open": SawyerTask(
        "sawyer_xyz/sawyer_drawer.xml", "SawyerDrawerOpenV3Policy", rewards.drawer_open,
        functools.partial(_drawer, offset=(0.0, -0.16, 0.0), quat=True),
        *_DRAWER_OPEN, joint="goal_slidey",
        moved_body="drawer",
    ),
    # MW envs/sawyer_drawer_close_v3.py:92-118: the drawer pulled out 15 cm.
    "drawer-close": SawyerTask(
        "sawyer_xyz/sawyer_drawer.xml", "SawyerDrawerCloseV3Policy", rewards.drawer_close,
        functools.partial(_drawer, offset=(0.0, -0.16, 0.05), quat=False),
        lambda task, rest: Layout(task[:3], jnp.full((1,), -0.15, task.dtype)),
        _drawer_close_start, joint="goal_slidey", moved_body="drawer",
    ),
    # MW envs/sawyer_door_v3.py:97-129: the door at the task's place, shut.
    "door-open": SawyerTask(
        "sawyer_xyz/sawyer_door_pull.xml", "SawyerDoorOpenV3Policy", rewards.door_open, _door,
        *_DOOR_OPEN, joint="doorjoint", moved_body="door",
    ),
    # MW envs/sawyer_door_close_v3.py:67-103: the door swung open 90 degrees; the hand starts
    # to its left.
    "door-close": SawyerTask(
        "sawyer_xyz/sawyer_door_pull.xml", "SawyerDoorCloseV3Policy", rewards.door_close,
        _door, *_DOOR_CLOSE, joint="doorjoint",
        moved_body="door", hand_init_pos=(-0.5, 0.6, 0.2),
    ),
    # MW envs/sawyer_window_open_v3.py:103-124: the window at the task's place, shut.
    "window-open": SawyerTask(
        "sawyer_xyz/sawyer_window_horizontal.xml", "SawyerWindowOpenV3Policy",
        rewards.window_open,
        lambda probe, data: (probe.site(data, "handleOpenStart"), jnp.zeros(4, jnp.float32)),
        *_WINDOW_OPEN, joint="window_slide",
        moved_body="window", hand_init_pos=(0.0, 0.4, 0.2),
    ),
    # MW envs/sawyer_button_press_topdown_v3.py:92-120: the button's box at the task's place.
    "button-press-topdown": SawyerTask(
        "sawyer_xyz/sawyer_button_press_topdown.xml", "SawyerButtonPressTopdownV3Policy",
        rewards.button_press_topdown,
        lambda probe, data: (
            probe.body(data, "button") + jnp.array([0.0, 0.0, 0.193]),
            probe.body_wxyz(data, "button"),
        ),
        lambda task, rest: Layout(task[:3], None), _button_start, joint="btnbox_joint",
        moved_body="box", hand_init_pos=(0.0, 0.4, 0.2),
    ),
    # MW envs/sawyer_sweep_v3.py:93-130: a block (its free joint unnamed: found by its body).
    "sweep": SawyerTask(
        "sawyer_xyz/sawyer_sweep_v3.xml", "SawyerSweepV3Policy", rewards.sweep,
        lambda probe, data: (probe.body(data, "obj"), probe.body_wxyz(data, "obj")),
        *_swept_puck((0.5, 0.65, 0.01), goal_y_from_task=True, rest_height=False), joint="obj",
    ),
    # MW envs/sawyer_sweep_into_goal_v3.py:94-121: the puck into the table's hole.
    "sweep-into": SawyerTask(
        "sawyer_xyz/sawyer_table_with_hole.xml", "SawyerSweepIntoV3Policy", rewards.sweep_into,
        lambda probe, data: (probe.body(data, "obj"), probe.geom_xyzw(data, "objGeom")),
        *_swept_puck((0.0, 0.84, 0.02), goal_y_from_task=False, rest_height=True),
        joint="objjoint",
    ),
    # MW envs/sawyer_lever_pull_v3.py:106-130: the lever at the task's place; the hand may go
    # down to z = -0.15.
    "lever-pull": SawyerTask(
        "sawyer_xyz/sawyer_lever_pull.xml", "SawyerLeverPullV3Policy", rewards.lever_pull,
        lambda probe, data: (probe.site(data, "leverStart"), probe.geom_xyzw(data, "objGeom")),
        lambda task, rest: Layout(task[:3], None), _lever_start, joint="LeverAxis",
        moved_body="lever", hand_init_pos=(0.0, 0.4, 0.2), hand_low=(-0.5, 0.40, -0.15),
    ),
    # MW envs/sawyer_shelf_place_v3.py:102-153: a block onto a shelf the task places.
    "shelf-place": SawyerTask(
        "sawyer_xyz/sawyer_shelf_placing.xml", "SawyerShelfPlaceV3Policy", rewards.shelf_place,
        lambda probe, data: (probe.body(data, "obj"), probe.geom_xyzw(data, "objGeom")),
        _shelf_layout, _shelf_start, joint="objjoint", moved_body="shelf",
    ),
    # MW envs/sawyer_basketball_v3.py:103-139: the ball into a hoop the task places.
    "basketball": SawyerTask(
        "sawyer_xyz/sawyer_basketball.xml", "SawyerBasketballV3Policy", rewards.basketball,
        lambda probe, data: (probe.body(data, "bsktball"), probe.body_wxyz(data, "bsktball")),
        _basketball_layout, _basketball_start, joint="bsktball", moved_body="basket_goal",
    ),
    # MW envs/sawyer_peg_insertion_side_v3.py:130-162: a peg into a box's side hole.
    "peg-insert-side": SawyerTask(
        "sawyer_xyz/sawyer_peg_insertion_side.xml", "SawyerPegInsertionSideV3Policy",
        rewards.peg_insert_side,
        lambda probe, data: (probe.site(data, "pegGrasp"), probe.site_xyzw(data, "pegGrasp")),
        _peg_layout, _peg_start, joint="peg", moved_body="box", points=_peg_points,
        rest_point=lambda probe, data: probe.site(data, "pegHead"),
    ),
}  # fmt: skip
# Meta-World's ML10 split (env_dict.py:336-356), every class of it in `TASKS`.
ML10_TRAIN = (
    "reach", "push", "pick-place", "door-open", "drawer-close", "button-press-topdown",
    "peg-insert-side", "window-open", "sweep", "basketball",
)  # fmt: skip
ML10_TEST = ("drawer-open", "door-close", "shelf-place", "sweep-into", "lever-pull")

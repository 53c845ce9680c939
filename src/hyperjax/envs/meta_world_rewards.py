"""Meta-World's "v2" rewards and success flags, transcribed to JAX (metaworld 3.1.1, "MW").

Each reward is a pure function of where things are after a step (`Scene`), the clipped
observation, the action and what the reset fixed (`Start`: where the task put the object and the
goal). Meta-World's own functions read the same quantities from MuJoCo's live data;
tests/test_meta_world.py checks each against Meta-World's `compute_reward` on states recorded
from its env.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

XZ = np.array([0, 2])


class Scene(NamedTuple):
    """Positions a reward reads, and the constants of a reset that every task shares."""

    tcp: jax.Array  # midpoint of the two finger sites (`tcp_center`)
    left_pad: jax.Array
    right_pad: jax.Array
    init_tcp: jax.Array  # `tcp_center` after the hand settled at reset
    hand_init_pos: jax.Array
    joint: jax.Array  # the first position of the task's own joint (the door's hinge angle)
    points: jax.Array  # (k, 3) places a class's reward reads (peg-insert-side: its sites)


class Start(NamedTuple):
    """What a reset fixes for the episode, as each class's `reset_model` stores it."""

    obj_init: jax.Array  # MW `obj_init_pos`
    target: jax.Array  # MW `_target_pos`
    # A class's own reset constant: button-press-topdown's depth, peg-insert-side's peg head start.
    extra: jax.Array | float = 0.0
    obj_obs_init: jax.Array | None = None  # the object's observed position after the reset


def tolerance(x, low, high, margin, value_at_margin=0.1, sigmoid="long_tail"):
    """dm_control's `tolerance(x, (low, high), margin, sigmoid)` for the two sigmoids Meta-World's
    v2 rewards use (MW utils/reward_utils.py:18-142): 1 inside the bounds, a long tail or a
    gaussian outside, 0 outside if the margin is 0."""
    in_bounds = (low <= x) & (x <= high)
    safe_margin = jnp.where(margin > 0, margin, 1.0)
    d = jnp.where(x < low, low - x, x - high) / safe_margin
    if sigmoid == "long_tail":
        scale = np.sqrt(1.0 / value_at_margin - 1.0)
        outside = 1.0 / ((d * scale) ** 2 + 1.0)
    elif sigmoid == "gaussian":
        scale = np.sqrt(-2.0 * np.log(value_at_margin))
        outside = jnp.exp(-0.5 * (d * scale) ** 2)
    else:
        raise ValueError(f"sigmoid: {sigmoid!r}; allowed: long_tail, gaussian")
    return jnp.where(in_bounds, 1.0, jnp.where(margin > 0, outside, 0.0))


def hamacher(a, b):
    """MW utils/reward_utils.py `hamacher_product`: ab / (a + b - ab), 0 when both are 0."""
    denominator = a + b - a * b
    return jnp.where(denominator > 0, a * b / jnp.where(denominator > 0, denominator, 1.0), 0.0)


def _flag(condition) -> jax.Array:
    return condition.astype(jnp.float32)


def reach(scene: Scene, obs, action, start: Start):
    """`SawyerReachEnvV3.compute_reward` / `evaluate_state` (MW envs/sawyer_reach_v3.py)."""
    target = start.target
    distance = jnp.linalg.norm(scene.tcp - target)
    in_place = tolerance(distance, 0.0, 0.05, jnp.linalg.norm(scene.hand_init_pos - target))
    metrics = {
        "success": _flag(distance <= 0.05),
        # Meta-World's reach reports the distance itself under these names.
        "near_object": distance,
        "grasp_reward": distance,
        "in_place_reward": in_place,
        "obj_to_target": distance,
    }
    return 10.0 * in_place, metrics


def caging(
    scene: Scene, action, obj, obj_init, obj_radius, pad_thresh, xz_thresh, high_density=True
):
    """`SawyerXYZEnv._gripper_caging_reward` (MW sawyer_xyz_env.py:721-858): the pads around the
    object in y, the fingers over it in x-z, the gripper closing; high density (push) averages
    in the caging alone, the default (shelf-place) does not."""
    pads_y = jnp.stack([scene.left_pad[1], scene.right_pad[1]])
    margins = jnp.abs(jnp.abs(pads_y - obj_init[1]) - pad_thresh)
    left, right = tolerance(jnp.abs(pads_y - obj[1]), obj_radius, pad_thresh, margins)
    xz_margin = jnp.linalg.norm(obj_init[XZ] - scene.init_tcp[XZ]) - xz_thresh
    xz = tolerance(jnp.linalg.norm(scene.tcp[XZ] - obj[XZ]), 0.0, xz_thresh, xz_margin)
    caged = hamacher(hamacher(left, right), xz)
    if high_density:
        return _grip(caged, action)
    return hamacher(caged, jnp.where(caged > 0.97, jnp.clip(action[-1], 0.0, 1.0), 0.0))


def _grip(caged, action):
    gripping = jnp.where(caged > 0.97, jnp.clip(action[-1], 0.0, 1.0), 0.0)
    return (hamacher(caged, gripping) + caged) / 2


def push(scene: Scene, obs, action, start: Start):
    """`SawyerPushEnvV3.compute_reward` / `evaluate_state` (MW envs/sawyer_push_v3.py:85-213)."""
    obj_init, target = start.obj_init, start.target
    obj, tcp_opened = obs[4:7], obs[3]
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    obj_to_target = jnp.linalg.norm(obj - target)
    in_place = tolerance(obj_to_target, 0.0, 0.05, jnp.linalg.norm(obj_init - target))
    grasped = caging(scene, action, obj, obj_init, 0.015, 0.05, 0.005)
    reward = 2.0 * grasped
    # MW's `reward += 1.0 + reward + 5.0 * in_place`: the grasp term counts twice.
    reward = jnp.where(
        (tcp_to_obj < 0.02) & (tcp_opened > 0), 2.0 * reward + 1.0 + 5.0 * in_place, reward
    )
    reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
    return reward, _object_metrics(
        obj_to_target <= 0.05, tcp_to_obj, grasped, in_place, obj_to_target
    )


def pick_place_caging(scene: Scene, action, obj, obj_init):
    """`SawyerPickPlaceEnvV3._gripper_caging_reward` (MW envs/sawyer_pick_place_v3.py:180-248):
    its own variant, with signed pad distances and margins from the pads themselves."""
    pad_thresh, xz_thresh, obj_radius = 0.05, 0.005, 0.015
    # Meta-World's "initial" pad positions (`init_right_pad`, sawyer_pick_place_v3.py:155-156) are
    # views of MuJoCo's live `xpos` (as under mujoco-py in the authors' copy), so the margins
    # follow the pads as they move: kept, since it defines the reward.
    right_margin = jnp.abs(jnp.abs(obj[1] - scene.right_pad[1]) - pad_thresh)
    left_margin = jnp.abs(jnp.abs(obj[1] - scene.left_pad[1]) - pad_thresh)
    right = tolerance(obj[1] - scene.right_pad[1], obj_radius, pad_thresh, right_margin)
    left = tolerance(scene.left_pad[1] - obj[1], obj_radius, pad_thresh, left_margin)
    xz_margin = jnp.linalg.norm(obj_init[XZ] - scene.init_tcp[XZ]) - xz_thresh
    xz = tolerance(jnp.linalg.norm(scene.tcp[XZ] - obj[XZ]), 0.0, xz_thresh, xz_margin)
    return _grip(hamacher(hamacher(left, right), xz), action)


def pick_place(scene: Scene, obs, action, start: Start):
    """`SawyerPickPlaceEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_pick_place_v3.py:85-118, 250-293)."""
    obj_init, target = start.obj_init, start.target
    obj, tcp_opened = obs[4:7], obs[3]
    obj_to_target = jnp.linalg.norm(obj - target)
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    in_place = tolerance(obj_to_target, 0.0, 0.05, jnp.linalg.norm(obj_init - target))
    grasped = pick_place_caging(scene, action, obj, obj_init)
    reward = hamacher(grasped, in_place)
    lifted = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[2] - 0.01 > obj_init[2])
    reward = jnp.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
    return reward, _object_metrics(
        obj_to_target <= 0.07, tcp_to_obj, grasped, in_place, obj_to_target
    )


def _object_metrics(success, tcp_to_obj, grasped, in_place, obj_to_target, near=0.03) -> dict:
    return {
        "success": _flag(success),
        "near_object": _flag(tcp_to_obj <= near),
        "grasp_reward": grasped,
        "in_place_reward": in_place,
        "obj_to_target": obj_to_target,
    }


def drawer_open(scene: Scene, obs, action, start: Start):
    """`SawyerDrawerOpenEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_drawer_open_v3.py:66-90, 115-158): reach the handle (x-y error weighted 3x), pull
    it 20 cm out."""
    gripper, handle = obs[:3], obs[4:7]
    handle_error = jnp.linalg.norm(handle - start.target)
    opening = tolerance(handle_error, 0.0, 0.02, 0.2)
    handle_init = start.target + jnp.array([0.0, 0.2, 0.0])
    scale = jnp.array([3.0, 3.0, 1.0])
    caging_margin = jnp.linalg.norm((handle_init - scene.init_tcp) * scale)
    caging = tolerance(jnp.linalg.norm((handle - gripper) * scale), 0.0, 0.01, caging_margin)
    metrics = {
        "success": _flag(handle_error <= 0.03),
        "near_object": _flag(jnp.linalg.norm(handle - gripper) <= 0.03),
        "grasp_reward": caging,
        "in_place_reward": opening,
        "obj_to_target": handle_error,
    }
    return 5.0 * (caging + opening), metrics


def drawer_close(scene: Scene, obs, action, start: Start):
    """`SawyerDrawerCloseEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_drawer_close_v3.py:68-90, 120-172). Its radius is the base class's 0.05
    (sawyer_xyz_env.py:156): the class's own `_TARGET_RADIUS = 0.04` is never read."""
    obj, radius = obs[4:7], 0.05
    target_to_obj = jnp.linalg.norm(obj - start.target)
    target_to_obj_init = jnp.linalg.norm(start.obj_init - start.target)
    in_place = tolerance(target_to_obj, 0.0, radius, jnp.abs(target_to_obj_init - radius))
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    tcp_to_obj_init = jnp.linalg.norm(start.obj_init - scene.init_tcp)
    reach_margin = jnp.abs(tcp_to_obj_init - 0.005)
    reach = tolerance(tcp_to_obj, 0.0, 0.005, reach_margin, sigmoid="gaussian")
    reach = hamacher(reach, jnp.clip(action[-1], 0.0, 1.0))
    success = target_to_obj <= radius + 0.015
    reward = 10.0 * jnp.where(success, 1.0, hamacher(reach, in_place))
    metrics = {
        "success": _flag(success),
        "near_object": _flag(tcp_to_obj <= 0.01),
        "grasp_reward": reach,
        "in_place_reward": in_place,
        "obj_to_target": target_to_obj,
    }
    return reward, metrics


def door_open(scene: Scene, obs, action, start: Start):
    """`SawyerDoorEnvV3.compute_reward` (v2) / `evaluate_state` (MW envs/sawyer_door_v3.py:
    68-95, 130-205): the hand above a floor that rises away from the handle and at the handle,
    the gripper's effort, the hinge's angle toward 120 degrees open."""
    hand, door = obs[:3], obs[4:7] + jnp.array([-0.05, 0.0, 0.0])
    theta, threshold = scene.joint, 0.12
    radius = jnp.linalg.norm(hand[:2] - door[:2])
    beyond = jnp.maximum(radius - threshold, 1e-12)  # the log's branch is only taken above 0
    floor = jnp.where(radius <= threshold, 0.0, 0.04 * jnp.log(beyond) + 0.4)
    above_floor = jnp.where(
        hand[2] >= floor, 1.0, tolerance(floor - hand[2], 0.0, 0.01, floor / 2.0)
    )
    offset = jnp.array([0.05, 0.03, -0.01])
    at_handle = tolerance(jnp.linalg.norm(hand - door - offset), 0.0, threshold / 2.0, 0.5)
    ready = hamacher(above_floor, at_handle)
    opening = tolerance(np.pi / 2.0 + np.pi / 6 + theta, 0.0, 0.5, np.pi / 3.0)
    opened = 0.2 * _flag(theta < -np.pi / 90.0) + 0.8 * opening
    grab = (jnp.clip(action[3], -1.0, 1.0) + 1.0) / 2.0
    success = jnp.abs(obs[4] - start.target[0]) <= 0.08
    reward = jnp.where(success, 10.0, 2.0 * hamacher(ready, grab) + 8.0 * opened)
    metrics = {
        "success": _flag(success),
        "near_object": ready,
        "grasp_reward": grab,
        "in_place_reward": opened,
        "obj_to_target": jnp.zeros(()),
    }
    return reward, metrics


def door_close(scene: Scene, obs, action, start: Start):
    """`SawyerDoorCloseEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_door_close_v3.py:105-118, 120-157): the handle to the closed door's place, the
    hand beside it."""
    obj, target, radius = obs[4:7], start.target, 0.05
    tcp_to_target = jnp.linalg.norm(scene.tcp - target)
    obj_to_target = jnp.linalg.norm(obj - target)
    in_place_margin = jnp.linalg.norm(start.obj_init - target)
    in_place = tolerance(obj_to_target, 0.0, radius, in_place_margin, sigmoid="gaussian")
    hand_margin = jnp.linalg.norm(scene.hand_init_pos - obj) + 0.1
    hand_in_place = tolerance(tcp_to_target, 0.0, 0.25 * radius, hand_margin, sigmoid="gaussian")
    reward = jnp.where(obj_to_target < radius, 10.0, 3.0 * hand_in_place + 6.0 * in_place)
    metrics = {
        "success": _flag(obj_to_target <= 0.08),
        "near_object": jnp.zeros(()),
        "grasp_reward": jnp.ones(()),
        "in_place_reward": hand_in_place,
        "obj_to_target": obj_to_target,
    }
    return reward, metrics


def window_open(scene: Scene, obs, action, start: Start):
    """`SawyerWindowOpenEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_window_open_v3.py:79-101, 126-170): the handle 20 cm along x, the hand at it."""
    obj, target, radius, handle_radius = obs[4:7], start.target, 0.05, 0.02
    target_to_obj = jnp.abs(obj[0] - target[0])
    target_to_obj_init = jnp.abs(start.obj_init[0] - target[0])
    in_place = tolerance(target_to_obj, 0.0, radius, jnp.abs(target_to_obj_init - radius))
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    tcp_to_obj_init = jnp.linalg.norm(start.obj_obs_init - scene.init_tcp)
    reach_margin = jnp.abs(tcp_to_obj_init - handle_radius)
    reach = tolerance(tcp_to_obj, 0.0, handle_radius, reach_margin)
    metrics = _object_metrics(
        target_to_obj <= radius, tcp_to_obj, reach, in_place, target_to_obj, near=0.05
    )
    return 10.0 * hamacher(reach, in_place), metrics


def button_press_topdown(scene: Scene, obs, action, start: Start):
    """`SawyerButtonPressTopdownEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_button_press_topdown_v3.py:62-88, 122-162): the closed gripper at the button,
    the button down to its hole. The reach margin is the distance from the settled hand to the
    button where it is now (as Meta-World computes it)."""
    obj = obs[4:7]
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    tcp_to_obj_init = jnp.linalg.norm(obj - scene.init_tcp)
    obj_to_target = jnp.abs(start.target[2] - obj[2])
    near_button = tolerance(tcp_to_obj, 0.0, 0.01, tcp_to_obj_init)
    pressed = tolerance(obj_to_target, 0.0, 0.005, start.extra)
    reward = 5.0 * hamacher(1.0 - obs[3], near_button)
    reward = reward + jnp.where(tcp_to_obj <= 0.03, 5.0 * pressed, 0.0)
    metrics = _object_metrics(
        obj_to_target <= 0.024, tcp_to_obj, near_button, pressed, obj_to_target, near=0.05
    )
    return reward, metrics


def sweep_caging(scene: Scene, action, obj, obj_init, grip_extra: float, xz_thresh: float):
    """`_gripper_caging_reward` of sweep and sweep-into (MW envs/sawyer_sweep_v3.py:132-226,
    envs/sawyer_sweep_into_goal_v3.py:123-217): the pads around the object in y, the fingers at
    it in x-z; when caged, the pads' grip (within `obj_radius + grip_extra`) instead of the
    gripper's effort. Margins from the pads' live positions, as in pick-place."""
    obj_radius, pad_thresh = 0.02, 0.05
    right_delta, left_delta = obj[1] - scene.right_pad[1], scene.left_pad[1] - obj[1]
    right_margin = jnp.abs(jnp.abs(obj[1] - scene.right_pad[1]) - pad_thresh)
    left_margin = jnp.abs(jnp.abs(obj[1] - scene.left_pad[1]) - pad_thresh)
    grip_thresh = obj_radius + grip_extra
    y_caging = hamacher(
        tolerance(right_delta, obj_radius, pad_thresh, right_margin),
        tolerance(left_delta, obj_radius, pad_thresh, left_margin),
    )
    y_gripping = hamacher(
        tolerance(right_delta, obj_radius, grip_thresh, right_margin),
        tolerance(left_delta, obj_radius, grip_thresh, left_margin),
    )
    xz_margin = jnp.linalg.norm(obj_init[XZ] - scene.init_tcp[XZ]) - xz_thresh
    xz = tolerance(jnp.linalg.norm(scene.tcp[XZ] - obj[XZ]), 0.0, xz_thresh, xz_margin)
    caging = hamacher(y_caging, xz)
    return (caging + jnp.where(caging > 0.95, y_gripping, 0.0)) / 2


def _sweep_reward(scene: Scene, obs, action, start: Start, target, grip_extra, xz_thresh):
    obj, radius = obs[4:7], 0.05
    obj_to_target = jnp.linalg.norm(obj - target)
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    in_place = tolerance(obj_to_target, 0.0, radius, jnp.linalg.norm(start.obj_init - target))
    grasped = sweep_caging(scene, action, obj, start.obj_init, grip_extra, xz_thresh)
    reward = 2.0 * grasped + 6.0 * hamacher(grasped, in_place)
    reward = jnp.where(obj_to_target < radius, 10.0, reward)
    return reward, _object_metrics(
        obj_to_target <= radius, tcp_to_obj, grasped, in_place, obj_to_target
    )


def sweep(scene: Scene, obs, action, start: Start):
    """`SawyerSweepEnvV3.compute_reward` (v2) / `evaluate_state` (MW envs/sawyer_sweep_v3.py:
    68-91, 228-266): the puck swept to the table's edge."""
    return _sweep_reward(scene, obs, action, start, start.target, 0.01, 0.005)


def sweep_into(scene: Scene, obs, action, start: Start):
    """`SawyerSweepIntoGoalEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_sweep_into_goal_v3.py:68-92, 219-257): the puck swept into the hole; the target
    is the hole's x-y at the puck's current height."""
    target = start.target.at[2].set(obs[6])
    return _sweep_reward(scene, obs, action, start, target, 0.005, 0.01)


def lever_pull(scene: Scene, obs, action, start: Start):
    """`SawyerLeverPullEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_lever_pull_v3.py:80-104, 132-180): the hand's "shoulder" under the lever (x-z
    error weighted 4x), the lever's end to the goal above. `start.obj_init` is the lever end's
    start (`_lever_pos_init`); `scene.joint` the lever's angle (`LeverAxis`)."""
    gripper, lever, target = obs[:3], obs[4:7], start.target
    scale, offset = jnp.array([4.0, 1.0, 4.0]), jnp.array([0.0, 0.055, 0.07])
    shoulder_to_lever = jnp.linalg.norm((gripper + offset - lever) * scale)
    shoulder_margin = jnp.linalg.norm((scene.init_tcp + offset - start.obj_init) * scale)
    ready_to_lift = tolerance(shoulder_to_lever, 0.0, 0.02, shoulder_margin)
    lever_error = jnp.abs(-scene.joint - np.pi / 2.0)
    engagement = tolerance(lever_error, 0.0, np.pi / 48.0, np.pi / 2.0 - np.pi / 12.0)
    in_place_margin = jnp.linalg.norm(start.obj_init - target)
    in_place = tolerance(jnp.linalg.norm(lever - target), 0.0, 0.04, in_place_margin)
    metrics = {
        "success": _flag(lever_error <= np.pi / 24),
        "near_object": _flag(shoulder_to_lever < 0.03),
        "grasp_reward": ready_to_lift,
        "in_place_reward": engagement,
        "obj_to_target": shoulder_to_lever,
    }
    return 10.0 * hamacher(ready_to_lift, in_place), metrics


def shelf_place(scene: Scene, obs, action, start: Start):
    """`SawyerShelfPlaceEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_shelf_place_v3.py:69-100, 155-225): grasp, lift and place on the shelf; the
    in-place term is cut in front of the shelf below its board and zeroed behind it."""
    obj, tcp_opened, target, radius = obs[4:7], obs[3], start.target, 0.05
    obj_to_target = jnp.linalg.norm(obj - target)
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    in_place = tolerance(obj_to_target, 0.0, radius, jnp.linalg.norm(start.obj_init - target))
    grasped = caging(scene, action, obj, start.obj_init, 0.02, 0.05, 0.01, high_density=False)
    reward = hamacher(grasped, in_place)
    below_board = (obj[2] > 0.0) & (obj[2] < 0.24)
    beside = (obj[0] > target[0] - 0.15) & (obj[0] < target[0] + 0.15)
    in_front = (obj[1] > target[1] - 3 * radius) & (obj[1] < target[1])
    z_scaling = (0.24 - obj[2]) / 0.24
    y_scaling = (obj[1] - (target[1] - 3 * radius)) / (3 * radius)
    cut = jnp.clip(in_place - hamacher(y_scaling, z_scaling), 0.0, 1.0)
    in_place = jnp.where(below_board & beside & in_front, cut, in_place)
    in_place = jnp.where(below_board & beside & (obj[1] > target[1]), 0.0, in_place)
    lifted = (tcp_to_obj < 0.025) & (tcp_opened > 0) & (obj[2] - 0.01 > start.obj_init[2])
    reward = jnp.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(obj_to_target < radius, 10.0, reward)
    return reward, _object_metrics(
        obj_to_target <= 0.07, tcp_to_obj, grasped, in_place, obj_to_target
    )


def basketball(scene: Scene, obs, action, start: Start):
    """`SawyerBasketballEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_basketball_v3.py:72-100, 141-195): grasp the ball and bring it over the hoop, 30
    cm up (z error weighted 2x); a lifted ball counts as fully grasped."""
    obj, tcp_opened, radius = obs[4:7], obs[3], 0.08
    target = start.target.at[2].set(0.3)
    scale = jnp.array([1.0, 1.0, 2.0])
    target_to_obj = jnp.linalg.norm((obj - target) * scale)
    margin = jnp.linalg.norm((start.obj_init - target) * scale)
    in_place = tolerance(target_to_obj, 0.0, radius, margin)
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    grasped = caging(scene, action, obj, start.obj_init, 0.025, 0.06, 0.005)
    lifted = (tcp_to_obj < 0.035) & (tcp_opened > 0) & (obj[2] - 0.01 > start.obj_init[2])
    grasped = jnp.where(lifted, 1.0, grasped)
    reward = hamacher(grasped, in_place)
    reward = jnp.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(target_to_obj < radius, 10.0, reward)
    metrics = _object_metrics(
        target_to_obj <= radius, tcp_to_obj, grasped, in_place, target_to_obj, near=0.05
    )
    return reward, metrics


def rect_prism_tolerance(point, zero, one):
    """MW utils/reward_utils.py:186-219: inside the box spanned by corners `zero` and `one`, the
    product of the point's relative coordinates (0 at `zero`, 1 at `one`); 1 outside."""
    low, high = jnp.minimum(zero, one), jnp.maximum(zero, one)
    inside = ((point >= low) & (point <= high)).all()
    return jnp.where(inside, jnp.prod((point - zero) / (one - zero)), 1.0)


def peg_insert_side(scene: Scene, obs, action, start: Start):
    """`SawyerPegInsertionSideEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_peg_insertion_side_v3.py:94-128, 164-250): grasp the peg, its head into the
    box's hole (y-z error weighted 2x), the in-place term cut inside the box's two collision
    prisms. `scene.points`: the peg head and the prisms' corners; `start.extra`: the peg head's
    place after the hand's settle, before the peg is moved (where Meta-World reads it)."""
    obj, tcp_opened, target = obs[4:7], obs[3], start.target
    head, brc1, tlc1, brc2, tlc2 = scene.points
    scale = jnp.array([1.0, 2.0, 2.0])
    tcp_to_obj = jnp.linalg.norm(obj - scene.tcp)
    obj_to_target = jnp.linalg.norm((head - target) * scale)
    margin = jnp.linalg.norm((start.extra - target) * scale)
    in_place = tolerance(obj_to_target, 0.0, 0.07, margin)
    collision_boxes = hamacher(
        rect_prism_tolerance(head, brc2, tlc2), rect_prism_tolerance(head, brc1, tlc1)
    )
    in_place = hamacher(in_place, collision_boxes)
    grasped = caging(scene, action, obj, start.obj_init, 0.0075, 0.03, 0.005)
    lifted = (tcp_to_obj < 0.08) & (tcp_opened > 0) & (obj[2] - 0.01 > start.obj_init[2])
    grasped = jnp.where(lifted, 1.0, grasped)
    reward = hamacher(grasped, in_place)
    reward = jnp.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(obj_to_target <= 0.07, 10.0, reward)
    return reward, _object_metrics(
        obj_to_target <= 0.07, tcp_to_obj, grasped, in_place, obj_to_target
    )


METRICS = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target")

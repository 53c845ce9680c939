"""Meta-World's "v2" rewards and success flags, transcribed to JAX (metaworld 3.1.1, "MW").

Each reward is a pure function of where things are after a step (`Scene`), the clipped
observation, the action and where the task put the object and the goal. Meta-World's own
functions read the same quantities from MuJoCo's live data; tests/test_meta_world.py checks each
against Meta-World's `compute_reward` on states recorded from its env.
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


def tolerance(x, low, high, margin, value_at_margin=0.1):
    """dm_control's `tolerance(x, (low, high), margin, sigmoid="long_tail")`
    (MW utils/reward_utils.py:97-142): 1 inside the bounds, a long tail outside, 0 if margin 0."""
    in_bounds = (low <= x) & (x <= high)
    safe_margin = jnp.where(margin > 0, margin, 1.0)
    d = jnp.where(x < low, low - x, x - high) / safe_margin
    scale = np.sqrt(1.0 / value_at_margin - 1.0)
    outside = jnp.where(margin > 0, 1.0 / ((d * scale) ** 2 + 1.0), 0.0)
    return jnp.where(in_bounds, 1.0, outside)


def hamacher(a, b):
    """MW utils/reward_utils.py `hamacher_product`: ab / (a + b - ab), 0 when both are 0."""
    denominator = a + b - a * b
    return jnp.where(denominator > 0, a * b / jnp.where(denominator > 0, denominator, 1.0), 0.0)


def _flag(condition) -> jax.Array:
    return condition.astype(jnp.float32)


def reach(scene: Scene, obs, action, obj_init, target):
    """`SawyerReachEnvV3.compute_reward` / `evaluate_state` (MW envs/sawyer_reach_v3.py)."""
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


def caging(scene: Scene, action, obj, obj_init, obj_radius, pad_thresh, xz_thresh):
    """`SawyerXYZEnv._gripper_caging_reward(..., high_density=True)` (MW sawyer_xyz_env.py:
    721-858): the pads around the object in y, the fingers over it in x-z, the gripper closing."""
    pads_y = jnp.stack([scene.left_pad[1], scene.right_pad[1]])
    margins = jnp.abs(jnp.abs(pads_y - obj_init[1]) - pad_thresh)
    left, right = tolerance(jnp.abs(pads_y - obj[1]), obj_radius, pad_thresh, margins)
    xz_margin = jnp.linalg.norm(obj_init[XZ] - scene.init_tcp[XZ]) - xz_thresh
    xz = tolerance(jnp.linalg.norm(scene.tcp[XZ] - obj[XZ]), 0.0, xz_thresh, xz_margin)
    return _grip(hamacher(hamacher(left, right), xz), action)


def _grip(caged, action):
    gripping = jnp.where(caged > 0.97, jnp.clip(action[-1], 0.0, 1.0), 0.0)
    return (hamacher(caged, gripping) + caged) / 2


def push(scene: Scene, obs, action, obj_init, target):
    """`SawyerPushEnvV3.compute_reward` / `evaluate_state` (MW envs/sawyer_push_v3.py:85-213)."""
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


def pick_place(scene: Scene, obs, action, obj_init, target):
    """`SawyerPickPlaceEnvV3.compute_reward` (v2) / `evaluate_state` (MW
    envs/sawyer_pick_place_v3.py:85-118, 250-293)."""
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


def _object_metrics(success, tcp_to_obj, grasped, in_place, obj_to_target) -> dict:
    return {
        "success": _flag(success),
        "near_object": _flag(tcp_to_obj <= 0.03),
        "grasp_reward": grasped,
        "in_place_reward": in_place,
        "obj_to_target": obj_to_target,
    }


REWARDS = {"reach": reach, "push": push, "pick-place": pick_place}
METRICS = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target")

"""Light navigation task distributions in pure JAX: a 5x5 grid world and a 2D point robot.

No physics engine: the agent's position is the whole `pipeline_state`, the goal is the task vector
(kept in `state.info["task"]`), so both compile in about a second and suit quick CPU checks.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import State

from hyperjax.envs.base import SPLITS, MetaEnv
from hyperjax.errors import ConfigError, check_choice, check_positive

# Grid moves indexed by action: stay, up, right, down, left (as (dx, dy); "up" is +y).
GRID_MOVES = np.array([[0, 0], [0, 1], [1, 0], [0, -1], [-1, 0]], dtype=np.int32)


def _state(pos: jax.Array, obs: jax.Array, task: jax.Array, success: jax.Array) -> State:
    """A fresh episode state: position as pipeline_state, zero reward, not done."""
    zero = jnp.zeros((), jnp.float32)
    return State(
        pipeline_state=pos,
        obs=obs,
        reward=zero,
        done=zero,
        metrics={"success": success.astype(jnp.float32)},
        info={"task": task},
    )


class GridWorld(MetaEnv):
    """VariBAD's GridNavi (`GridNavi-v0`): a `size` x `size` grid, fixed start cell (0, 0), the task
    is a goal cell.

    Actions (discrete, int32 scalar): 0 stay, 1 up (+y), 2 right (+x), 3 down (-y), 4 left (-x);
    moves into a wall leave the agent in place. Reward +1 on every step that ends on the goal
    and -0.1 otherwise; the episode never terminates (15 steps, then the time limit), so the
    agent can stay on the goal and keep collecting. 4 episodes per trial.

    Observation: the agent's cell (x, y) as float32, unnormalised (0..size-1), as the reference's
    `GridNavi.step` returns it. The trial wrapper appends the episode flag (obs[2]) when there is
    more than one episode per trial. Cell index of an observation (the reference's
    `task_to_id`, row-major in x): `cell_index(obs) = size * x + y`.
    Task vector: the goal cell (x, y) as float32. `metrics["success"]`: 1 on the goal.

    Goals: every cell except the start and the cells next to it (diagonals included), as the
    reference (`gridworld.py`: it removes the 3 x 3 block around the start): 21 goals on a 5x5
    grid, each equally likely.

    Split: by default none, as the reference, which trains and evaluates on the same 21 goals:
    the train and the test split are both every goal. `test_goals` holds cells out: the test
    split is then those cells and the train split the other goals.
    """

    episode_length = 15
    episodes_per_trial = 4
    discrete = True

    def __init__(
        self,
        size: int = 5,
        goal_reward: float = 1.0,
        step_reward: float = -0.1,
        test_goals: tuple[tuple[int, int], ...] | None = None,
    ):
        if not isinstance(size, int) or size < 3:
            raise ConfigError(f"env.size: must be an integer >= 3, got {size!r}")
        self.size = size
        self.goal_reward = float(goal_reward)
        self.step_reward = float(step_reward)

        cells = [(x, y) for x in range(size) for y in range(size) if max(x, y) > 1]
        if test_goals is None:
            train = test = cells
        else:
            test = [tuple(int(v) for v in c) for c in test_goals]
            for cell in test:
                if cell not in cells:
                    raise ConfigError(
                        f"env.test_goals: {cell} is not a goal cell of a {size}x{size} grid "
                        "(0 <= x, y < size, and not the start (0, 0) or a cell next to it)"
                    )
            train = [c for c in cells if c not in test]
        if not test or not train:
            raise ConfigError("env.test_goals: both the train and the test split need a goal cell")
        self._goals = {
            "train": np.array(train, np.float32),
            "test": np.array(sorted(set(test)), np.float32),
        }

    def cell_index(self, xy: jax.Array) -> jax.Array:
        """The cell index size * x + y (the reference's `task_to_id`) of positions or goals whose
        last axis starts with (x, y), e.g. observations (with or without the episode flag) or
        task vectors; int32, shape xy.shape[:-1]."""
        xy = jnp.asarray(xy)
        return (self.size * xy[..., 0] + xy[..., 1]).round().astype(jnp.int32)

    @property
    def num_cells(self) -> int:
        """Number of cells (size**2), the range of `cell_index`."""
        return self.size * self.size

    @property
    def task_size(self) -> int:
        return 2

    @property
    def observation_size(self) -> int:
        return 2

    @property
    def action_size(self) -> int:
        return len(GRID_MOVES)

    def goals(self, split: str = "train") -> np.ndarray:
        """The goal cells of a split, shape (n, 2)."""
        check_choice("split", split, SPLITS)
        return self._goals[split]

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        goals = jnp.asarray(self.goals(split))
        return goals[jax.random.randint(rng, (), 0, goals.shape[0])]

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        del rng  # The start cell is fixed; episodes differ only through the agent's actions.
        pos = jnp.zeros((2,), jnp.int32)
        return _state(pos, pos.astype(jnp.float32), task, jnp.zeros((), bool))

    def step(self, state: State, action: jax.Array) -> State:
        action = jnp.clip(jnp.asarray(action, jnp.int32), 0, len(GRID_MOVES) - 1)
        pos = jnp.clip(state.pipeline_state + jnp.asarray(GRID_MOVES)[action], 0, self.size - 1)
        at_goal = jnp.all(pos == state.info["task"].astype(jnp.int32))
        reward = jnp.where(at_goal, self.goal_reward, self.step_reward).astype(jnp.float32)
        return state.replace(
            pipeline_state=pos,
            obs=pos.astype(jnp.float32),
            reward=reward,
            done=jnp.zeros((), jnp.float32),
            metrics={**state.metrics, "success": at_goal.astype(jnp.float32)},
        )


class PointRobot(MetaEnv):
    """A point in the plane that moves by its clipped action; the task is a goal position.

    Goals lie on the upper semicircle of radius `goal_distance` (angle in [0, pi]); the point
    starts near the origin (uniform noise of half-width `start_noise` per coordinate, so episodes
    start from different states). Action: a 2D displacement, clipped to [-max_action, max_action].
    Sparse reward: 1 on every step that ends within `goal_radius` of the goal, else 0; never
    terminates. Observation: the position (2,). Task vector: the goal position (2,).
    `metrics["success"]`: 1 within the goal radius.

    Split: [0, pi] is cut into `num_sectors` equal angle sectors; goals of the sectors listed in
    `test_sectors` (by default 2 and 5 of 8, i.e. angles in [pi/4, 3pi/8) and [5pi/8, 3pi/4))
    form the held-out test split, the other sectors the train split. Each split is uniform in
    angle over its sectors.
    """

    episode_length = 100
    episodes_per_trial = 5

    def __init__(
        self,
        goal_radius: float = 0.2,
        goal_distance: float = 1.0,
        max_action: float = 0.1,
        start_noise: float = 0.05,
        num_sectors: int = 8,
        test_sectors: tuple[int, ...] = (2, 5),
    ):
        check_positive("env.goal_radius", goal_radius)
        check_positive("env.goal_distance", goal_distance)
        check_positive("env.max_action", max_action)
        if not start_noise >= 0:
            raise ConfigError(f"env.start_noise: must be >= 0, got {start_noise!r}")
        if not isinstance(num_sectors, int) or num_sectors < 2:
            raise ConfigError(f"env.num_sectors: must be an integer >= 2, got {num_sectors!r}")
        test = sorted({int(s) for s in test_sectors})
        if not test or any(not 0 <= s < num_sectors for s in test) or len(test) == num_sectors:
            raise ConfigError(
                f"env.test_sectors: must be a non-empty proper subset of 0..{num_sectors - 1}, "
                f"got {test_sectors!r}"
            )
        self.goal_radius = float(goal_radius)
        self.goal_distance = float(goal_distance)
        self.max_action = float(max_action)
        self.start_noise = float(start_noise)
        self.num_sectors = num_sectors
        self._sectors = {
            "train": np.array([s for s in range(num_sectors) if s not in test], np.int32),
            "test": np.array(test, np.int32),
        }

    @property
    def task_size(self) -> int:
        return 2

    @property
    def observation_size(self) -> int:
        return 2

    @property
    def action_size(self) -> int:
        return 2

    def sectors(self, split: str = "train") -> np.ndarray:
        """The angle sectors of a split (indices into `num_sectors` equal parts of [0, pi])."""
        check_choice("split", split, SPLITS)
        return self._sectors[split]

    def sector_of(self, angle: jax.Array) -> jax.Array:
        """The sector index of a goal angle in [0, pi]."""
        width = math.pi / self.num_sectors
        return jnp.clip(jnp.floor(angle / width), 0, self.num_sectors - 1).astype(jnp.int32)

    def sample_task(self, rng: jax.Array, split: str = "train") -> jax.Array:
        sectors = jnp.asarray(self.sectors(split))
        sector_key, offset_key = jax.random.split(rng)
        # Sectors have equal width, so a uniform sector then a uniform offset is uniform in angle.
        sector = sectors[jax.random.randint(sector_key, (), 0, sectors.shape[0])]
        angle = (sector + jax.random.uniform(offset_key)) * (math.pi / self.num_sectors)
        return self.goal_distance * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def reset_to_task(self, rng: jax.Array, task: jax.Array) -> State:
        pos = jax.random.uniform(rng, (2,), minval=-self.start_noise, maxval=self.start_noise)
        return _state(pos, pos, task, self._inside(pos, task))

    def _inside(self, pos: jax.Array, goal: jax.Array) -> jax.Array:
        return jnp.linalg.norm(pos - goal) <= self.goal_radius

    def step(self, state: State, action: jax.Array) -> State:
        pos = state.pipeline_state + jnp.clip(action, -self.max_action, self.max_action)
        inside = self._inside(pos, state.info["task"])
        return state.replace(
            pipeline_state=pos,
            obs=pos,
            reward=inside.astype(jnp.float32),
            done=jnp.zeros((), jnp.float32),
            metrics={**state.metrics, "success": inside.astype(jnp.float32)},
        )

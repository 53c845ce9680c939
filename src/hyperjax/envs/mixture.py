"""A batch of envs split over several task distributions: Meta-World's ML10 trains on ten
scenes at once.

One vmapped step cannot mix scenes: each has its own model, and `lax.switch` under vmap runs
every branch for every env (ten scenes stepped per env). So a `Mixture` splits its batch into
equal contiguous sub-batches, one per member distribution, steps each member's sub-batch with
the member's own vmapped step, and concatenates what the learner reads (observation, reward,
trial flags, metrics). The learner sees one batch, as from a `TrialWrapper`.

Each env keeps its member for the whole run; a new task of that member is drawn at each trial
start. Over the batch every member gets the same share of trials, as in the authors' ML10,
where each process cycles through the classes instead (docs/fidelity.md, "Meta-World").

The task vector is the member's index among all classes of the family (one-hot, so the train and
test mixtures agree on it) followed by the member's own task vector, zero-padded to the widest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from brax.envs.base import State

from hyperjax.envs.base import TrialWrapper
from hyperjax.errors import ConfigError, check_positive

# The per-env entries of a trial wrapper's `state.info` that the learner reads.
TRIAL_INFO = (
    "step_in_episode",
    "episode_index",
    "terminated",
    "truncated",
    "episode_end",
    "trial_end",
    "final_obs",
)


class Mixture:
    """Trials of several task distributions (`members`, by name) in one batch.

    `classes` names every member a family has (train and test), fixing each one's one-hot slot
    in the task vector; `task_width` is the widest member task vector in the family. Provides
    what the learner uses of a `TrialWrapper`: sizes, trial shape, `check_batch`, `reset_batch`,
    `step_batch`. `state.info["member"]` is each env's index into `classes`.
    """

    def __init__(
        self,
        members: Mapping[str, TrialWrapper],
        classes: Sequence[str],
        task_width: int,
        family: str = "mixture",
    ):
        if not members:
            raise ConfigError(f"env: {family} has no task classes in this split")
        self.members = dict(members)
        self.classes = tuple(classes)
        self.task_width = int(task_width)
        self.family = family
        first = next(iter(self.members.values()))
        for name, member in self.members.items():
            for field in ("observation_size", "action_size", "discrete", "trial_length",
                          "episodes_per_trial", "split"):  # fmt: skip
                if getattr(member, field) != getattr(first, field):
                    raise ConfigError(
                        f"env: {family}'s class {name!r} has {field} "
                        f"{getattr(member, field)!r}, the others {getattr(first, field)!r}"
                    )
            if member.env.task_size > self.task_width:
                raise ConfigError(
                    f"env: {family}'s class {name!r} has a task vector of "
                    f"{member.env.task_size} > task_width {self.task_width}"
                )
        self._ids = [self.classes.index(name) for name in self.members]
        self._first = first

    # --- what the learner reads of a trial wrapper ---

    observation_size = property(lambda self: self._first.observation_size)
    action_size = property(lambda self: self._first.action_size)
    discrete = property(lambda self: self._first.discrete)
    episode_length = property(lambda self: self._first.episode_length)
    episodes_per_trial = property(lambda self: self._first.episodes_per_trial)
    has_episode_flag = property(lambda self: self._first.has_episode_flag)
    trial_length = property(lambda self: self._first.trial_length)
    split = property(lambda self: self._first.split)
    backend = property(lambda self: self._first.backend)

    @property
    def task_size(self) -> int:
        return len(self.classes) + self.task_width

    # --- the batch ---

    def check_batch(self, field: str, size: int) -> None:
        """A batch splits into one equal sub-batch per member, or it is refused."""
        check_positive(field, size)
        count = len(self.members)
        if size % count:
            raise ConfigError(
                f"{field}: {size} envs do not split evenly over {self.family}'s {count} "
                f"{self.split} classes ({', '.join(self.members)}); allowed: a multiple of {count}"
            )

    def reset_batch(self, keys: jax.Array) -> State:
        self.check_batch("batch", keys.shape[0])
        per_member = keys.shape[0] // len(self.members)
        parts = tuple(
            member.reset_batch(keys[i * per_member : (i + 1) * per_member])
            for i, member in enumerate(self.members.values())
        )
        return self._assemble(parts)

    def step_batch(self, state: State, action: jax.Array) -> State:
        parts, offset, stepped = state.pipeline_state, 0, []
        for member, part in zip(self.members.values(), parts, strict=True):
            size = part.reward.shape[0]
            stepped.append(member.step_batch(part, action[offset : offset + size]))
            offset += size
        return self._assemble(tuple(stepped))

    def _assemble(self, parts: tuple[State, ...]) -> State:
        """The learner's view of the batch: the members' states concatenated; the members'
        own states ride along as `pipeline_state`, the only part the next step reads."""

        def cat(*xs):
            return jnp.concatenate(xs)

        info = {key: cat(*(p.info[key] for p in parts)) for key in TRIAL_INFO}
        ids = list(zip(self._ids, parts, strict=True))
        info["task"] = cat(*(self._task(i, p.info["task"]) for i, p in ids))
        info["member"] = cat(*(jnp.full(p.reward.shape, i, jnp.int32) for i, p in ids))
        shared = set.intersection(*(set(p.metrics) for p in parts))
        metrics = {key: cat(*(p.metrics[key] for p in parts)) for key in sorted(shared)}
        return State(
            pipeline_state=parts,
            obs=cat(*(p.obs for p in parts)),
            reward=cat(*(p.reward for p in parts)),
            done=cat(*(p.done for p in parts)),
            metrics=metrics,
            info=info,
        )

    def _task(self, member_id: int, task: jax.Array) -> jax.Array:
        """(batch, member task) -> (batch, one-hot class + task zero-padded to task_width)."""
        batch = task.shape[0]
        one_hot = jnp.broadcast_to(
            jax.nn.one_hot(member_id, len(self.classes)), (batch, len(self.classes))
        )
        padding = jnp.zeros((batch, self.task_width - task.shape[1]), task.dtype)
        return jnp.concatenate([one_hot.astype(task.dtype), task, padding], axis=1)

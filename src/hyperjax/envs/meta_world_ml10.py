"""Meta-World's ML10 on MJX: train on 10 task classes, test on 5 held-out ones.

Each class is its `MetaWorldML1` scene with ML10's own task sets (`metaworld.ML10(seed)`), and a
batch of envs is split evenly over the split's classes (`Mixture`): a training batch over the 10
training classes, an evaluation batch on the test split over the 5 test classes.

As the authors' ML10 (H `environments/mw_wrapper.py:236-240`), an episode ends at its first
successful step (`done = info["success"]`); their ML1 runs Meta-World's env as it is and never
ends an episode early. Their task vector is a 10-wide class one-hot (zeros at test) and the goal
(`mw_wrapper.py:165-170`); ours is a 15-wide one-hot over all ML10 classes and the class's
`rand_vec`. No policy of the paper reads it (neither ML10 model passes or decodes the task).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from hyperjax.envs.base import SPLITS, TrialWrapper
from hyperjax.envs.meta_world import MetaWorldML1, require_metaworld
from hyperjax.envs.meta_world_tasks import ML10_TEST, ML10_TRAIN
from hyperjax.envs.mixture import Mixture
from hyperjax.errors import ConfigError, check_choice

# The widest `rand_vec` of an ML10 class (object and goal xyz).
TASK_WIDTH = 6


def check_classes(field: str, classes: Sequence[str], split: str) -> tuple[str, ...]:
    """The named classes, each one of ML10's `split` classes, once; else a one-line error."""
    allowed, other = (ML10_TRAIN, ML10_TEST) if split == "train" else (ML10_TEST, ML10_TRAIN)
    if isinstance(classes, str) or not classes:
        raise ConfigError(
            f"{field}: a non-empty list of ML10 {split} classes; allowed: {', '.join(allowed)}"
        )
    for name in classes:
        if name in other:
            raise ConfigError(
                f"{field}: {name!r} is an ML10 {'test' if split == 'train' else 'training'} "
                f"class, not one to {'train' if split == 'train' else 'test'} on; "
                f"allowed: {', '.join(allowed)}"
            )
        check_choice(field, name, allowed)
    if len(set(classes)) != len(classes):
        raise ConfigError(f"{field}: a class appears twice in {list(classes)}")
    return tuple(classes)


@functools.cache
def ml10_scene(name: str, task_seed: int, max_contacts: int, end_on_success: bool) -> MetaWorldML1:
    """One class's scene, built once per process (a scene takes a second or two, and a sweep
    builds the family three times before training: its env and both evaluation splits')."""
    return MetaWorldML1(
        name,
        task_seed=task_seed,
        max_contacts=max_contacts,
        benchmark="ml10",
        end_on_success=end_on_success,
    )


class MetaWorldML10:
    """ML10's task classes as one family; `trials(split=...)` gives the split's `Mixture`.

    `train_classes` / `test_classes` narrow the splits to some of ML10's own (e.g. two classes
    to try a config quickly); a test class named for training is refused. `task_seed` picks
    ML10's task sets (`metaworld.ML10(seed=task_seed)`); `max_contacts` as `MetaWorldML1`.
    """

    episode_length = MetaWorldML1.episode_length
    episodes_per_trial = MetaWorldML1.episodes_per_trial
    cpu_compiler_options = MetaWorldML1.cpu_compiler_options
    cpu_mappings_per_scene = MetaWorldML1.cpu_mappings_per_scene

    def __init__(
        self,
        task_seed: int = 0,
        max_contacts: int = 16,
        train_classes: Sequence[str] = ML10_TRAIN,
        test_classes: Sequence[str] = ML10_TEST,
        end_on_success: bool = True,
    ):
        require_metaworld()
        self.classes = {
            "train": check_classes("env.train_classes", train_classes, "train"),
            "test": check_classes("env.test_classes", test_classes, "test"),
        }
        self.task_seed = int(task_seed)
        self.max_contacts = max_contacts
        self.end_on_success = bool(end_on_success)

    def scene(self, name: str) -> MetaWorldML1:
        """One class's env with ML10's tasks."""
        return ml10_scene(name, self.task_seed, self.max_contacts, self.end_on_success)

    def trials(
        self,
        episode_length: int | None = None,
        episodes_per_trial: int | None = None,
        split: str = "train",
    ) -> Mixture:
        """Trials of the split's classes, a batch split evenly over them."""
        check_choice("env.split", split, SPLITS)
        members = {
            name: TrialWrapper(self.scene(name), episode_length, episodes_per_trial, split)
            for name in self.classes[split]
        }
        return Mixture(members, ML10_TRAIN + ML10_TEST, TASK_WIDTH, family="ML10")

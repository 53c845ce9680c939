"""Typed, frozen configuration.

Fields that set array shapes (sizes, batch layout, policy kind) are *static*: changing them needs a
new compilation. Continuous coefficients (learning rate, clip, entropy weight, ...) live in
`hyperjax.algos.ppo.PPOHParams`, a pytree whose leaves are vmapped across a sweep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hyperjax.errors import ConfigError, check_choice, check_positive

POLICY_KINDS = ("standard", "hypernet", "film")

# Init schemes each policy kind accepts. Schemes of one kind give parameter pytrees of one
# structure, so a sweep over them is one compiled program.
INIT_SCHEMES: dict[str, tuple[str, ...]] = {
    "standard": ("standard",),
    "hypernet": (
        "normc",
        "kaiming",
        "orthogonal",
        "hfi",
        "weight_hyperinit",
        "bias_hyperinit",
    ),
    "film": ("film_normc", "film_bias_hyperinit"),
}
ALL_INIT_SCHEMES = tuple(s for schemes in INIT_SCHEMES.values() for s in schemes)

# The paper's base-network sizes (Figure 3): state embedding width, hidden widths.
SIZE_PRESETS: dict[str, tuple[int, tuple[int, ...]]] = {
    "XS": (64, (64, 32)),
    "S": (128, (64, 64)),
    "M": (128, (128, 64)),
    "L": (256, (128, 128)),
    "XL": (256, (256, 128)),
    "XXL": (1024, (512, 512)),
}


def policy_kind_of(scheme: str) -> str:
    """The policy kind an init scheme belongs to."""
    check_choice("init", scheme, ALL_INIT_SCHEMES)
    return next(kind for kind, schemes in INIT_SCHEMES.items() if scheme in schemes)


def check_scheme(kind: str, scheme: str) -> None:
    """Raise ConfigError unless `scheme` is an init scheme of policy `kind`."""
    check_choice("policy.kind", kind, POLICY_KINDS)
    if scheme not in INIT_SCHEMES[kind]:
        allowed = ", ".join(INIT_SCHEMES[kind])
        raise ConfigError(
            f"init: scheme {scheme!r} is not valid for policy kind {kind!r}; allowed: {allowed}"
        )


@dataclass(frozen=True)
class PolicyConfig:
    """Actor-critic shape. `kind` and sizes are static."""

    kind: str = "hypernet"
    state_embed_dim: int = 256
    hidden: tuple[int, ...] = (256, 128)
    task_embed_dim: int = 25  # e = tanh(Linear(z)), the hypernetwork's input

    def __post_init__(self) -> None:
        check_choice("policy.kind", self.kind, POLICY_KINDS)
        check_positive("policy.state_embed_dim", self.state_embed_dim)
        check_positive("policy.task_embed_dim", self.task_embed_dim)
        if len(self.hidden) == 0:
            raise ConfigError("policy.hidden: needs at least one hidden layer")
        for width in self.hidden:
            check_positive("policy.hidden", width)

    @classmethod
    def sized(cls, size: str, **overrides) -> PolicyConfig:
        """A config with one of the paper's size presets (XS, S, M, L, XL, XXL)."""
        check_choice("policy.size", size, SIZE_PRESETS)
        state_embed_dim, hidden = SIZE_PRESETS[size]
        return cls(state_embed_dim=state_embed_dim, hidden=hidden, **overrides)

    def replace(self, **changes) -> PolicyConfig:
        return dataclasses.replace(self, **changes)

"""Typed, frozen configuration.

Fields that set array shapes (sizes, batch layout, policy kind) are *static*: changing them needs a
new compilation. Continuous coefficients (learning rate, clip, entropy weight, ...) live in
`hyperjax.algos.ppo.PPOHParams`, a pytree whose leaves are vmapped across a sweep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hyperjax.errors import ConfigError, check_choice, check_non_negative, check_positive

POLICY_KINDS = ("standard", "hypernet", "film")
# Implementations of a generated layer (`hyperjax.nets.hyper`); all compute the same function.
HYPER_IMPLS = ("factorised", "outer_product", "materialised")
# How the critic's output layer is drawn under Weight-/Bias-HyperInit (see nets/inits.py).
CRITIC_HEAD_INITS = ("paper", "authors")
# How GAE treats an episode that hit its time limit (`PPOConfig.time_limit_gae`).
TIME_LIMIT_GAE = ("authors", "bootstrap")
# What the encoder reads at a trial that starts inside a rollout (`TrainConfig.trial_start_input`).
TRIAL_START_INPUTS = ("authors", "zero")

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


def check_kind_of_schemes(kind: str, schemes: tuple[str, ...] | list[str]) -> None:
    """Raise ConfigError if a policy kind given explicitly disagrees with an init scheme's: in a
    sweep each scheme sets its own kind, so such a flag would be silently overridden."""
    check_choice("train.policy.kind", kind, POLICY_KINDS)
    for scheme in schemes:
        own = policy_kind_of(scheme)
        if own != kind:
            raise ConfigError(
                f"train.policy.kind: {kind!r} conflicts with init {scheme!r}, a {own} scheme "
                f"(the policy kind follows each init scheme; {kind} schemes: "
                f"{', '.join(INIT_SCHEMES[kind])}); drop train.policy.kind or change the inits"
            )


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
    hyper_impl: str = "factorised"  # how a generated layer is computed (same function, speed)
    # The critic output under Weight-/Bias-HyperInit: "paper" generates PyTorch's default Linear
    # (f of the text); "authors" what their code draws: W ~ U(+-sqrt(6/d_in)), b ~ U(-1, 1).
    critic_head_init: str = "paper"

    def __post_init__(self) -> None:
        check_choice("policy.kind", self.kind, POLICY_KINDS)
        check_choice("policy.hyper_impl", self.hyper_impl, HYPER_IMPLS)
        check_choice("policy.critic_head_init", self.critic_head_init, CRITIC_HEAD_INITS)
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


def check_non_negative_int(field: str, value: object) -> None:
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"{field}: must be an integer >= 0, got {value!r}")


@dataclass(frozen=True)
class EncoderConfig:
    """Trajectory encoder (RL2 memory / VariBAD posterior). All static.

    An embedding width of 0 drops that input altogether (the reference's `FeatureExtractor` with
    output size 0, e.g. action 0 in VariBAD's grid-world config); at least one must be > 0.
    """

    action_embed_dim: int = 16
    reward_embed_dim: int = 16
    state_embed_dim: int = 32
    gru_dim: int = 256
    latent_dim: int = 5  # the policy reads 2 * latent_dim features (RL2 readout, or mu and logvar)

    def __post_init__(self) -> None:
        embeds = ("action_embed_dim", "reward_embed_dim", "state_embed_dim")
        for name in embeds:
            check_non_negative_int(f"encoder.{name}", getattr(self, name))
        if all(getattr(self, name) == 0 for name in embeds):
            raise ConfigError(
                "encoder.action_embed_dim, encoder.reward_embed_dim, encoder.state_embed_dim: "
                "at least one must be > 0, got all 0"
            )
        check_positive("encoder.gru_dim", self.gru_dim)
        check_positive("encoder.latent_dim", self.latent_dim)


@dataclass(frozen=True)
class PPOConfig:
    """PPO batch layout (static) and default coefficients (sweepable, see PPOHParams)."""

    num_envs: int = 16
    num_steps: int = 60  # rollout length per update
    epochs: int = 2
    minibatches: int = 4  # minibatches split the envs, so recurrent sequences stay whole
    lr: float = 7e-4
    clip_eps: float = 0.05
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    gamma: float = 0.95
    gae_lambda: float = 0.95
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-8
    norm_obs: bool = True
    norm_reward: bool = True  # scale by the running std of the discounted return, clip +-10
    # Time limits are not terminations (the authors' use_proper_time_limits; False on the grid).
    bootstrap_truncation: bool = True
    # With bootstrap_truncation, how (docs/fidelity.md, PPO): "authors" zeroes the advantage of
    # every step that hit an episode's time limit, mid-trial ones too, sets its value target to
    # V(s), and cuts the lambda-recursion there (H algorithms/online_storage.py:178-186 with the
    # TimeLimitMask's bad_transition, environments/wrappers.py:186-193); "bootstrap" bootstraps
    # V(final obs) at truncated trial ends and lets GAE run on across episode ends in a trial.
    time_limit_gae: str = "authors"

    def __post_init__(self) -> None:
        check_choice("ppo.time_limit_gae", self.time_limit_gae, TIME_LIMIT_GAE)
        for name in (
            "num_envs",
            "num_steps",
            "epochs",
            "minibatches",
            "lr",
            "max_grad_norm",
            "adam_eps",
        ):
            check_positive(f"ppo.{name}", getattr(self, name))
        for name in ("gamma", "gae_lambda"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"ppo.{name}: must be in [0, 1], got {value!r}")
        for name in ("clip_eps", "ent_coef", "vf_coef"):
            check_non_negative(f"ppo.{name}", getattr(self, name))


# How the VAE loss reduces its terms over ELBO timesteps t, decoded timesteps j and trials n
# (see `VAEConfig.loss_reduction` and `hyperjax.algos.varibad.elbo_terms`).
VAE_LOSS_REDUCTIONS = ("hyper", "varibad", "mean")
VAE_REWARD_DECODERS = ("transition", "multihead")
VAE_REWARD_LOSSES = ("mse", "bernoulli")


@dataclass(frozen=True)
class VAEConfig:
    """VariBAD's variational trajectory encoder: decoders, ELBO sampling and reduction, buffer.

    The encoder is `EncoderConfig` (its readout gives the posterior's mean and log-variance).

    loss_reduction (err = a decoded step's error, kl_t = KL(q_t || q_{t-1}); t runs over the
    ELBO timesteps 0..H, q_0 the posterior before any transition, j over decoded timesteps):
      "hyper"   (default) what the paper's code (jacooba/hyper `vae.py` compute_loss and
                compute_kl_loss, vae_avg_elbo_terms = vae_avg_reconstruction_terms = False in
                every config) computes: reconstruction = mean over trials of the sum over ELBO
                terms and decoded steps; KL = the KL of *every* trial at *every* sampled ELBO
                index (the B x elbo_steps indices of the whole batch index the time axis only),
                summed: B times upstream's KL when subsampling. Without subsampling the KL is
                summed over timesteps and trials.
      "varibad" upstream VariBAD (lmzintgraf/varibad `vae.py`): reconstruction as "hyper"; KL
                summed over each trial's own sampled ELBO terms and over trials.
      "mean"    hyperjax's earlier choice: reconstruction summed over decoded steps, averaged
                over ELBO terms and trials; KL averaged over every valid timestep and trial.
    In all three the state decoder's squared error is averaged over state dimensions.
    """

    lr: float = 1e-3
    kl_weight: float = 0.1  # 0.1 for cheetah / ant, 1.0 for walker and manipulation (paper)
    loss_reduction: str = "hyper"  # "hyper" | "varibad" | "mean", see above
    decode_reward: bool = True  # reward decoder (walker: False)
    decode_state: bool = False  # next-state decoder (walker: True)
    # "transition": MLP over [z, embed(s'), embed(a), embed(s)] -> r (MuJoCo configs);
    # "multihead": MLP over z alone -> one output per grid cell, read at the cell of s' (grid).
    reward_decoder: str = "transition"
    reward_loss: str = "mse"  # "mse" | "bernoulli" (BCE of sigmoid(output), target reward == 1)
    state_embed_dim: int = 32  # decoder input embeddings (the reference reuses the encoder's)
    action_embed_dim: int = 16  # 0: the decoders get no action input
    decoder_hidden: tuple[int, ...] = (64, 32)  # reward decoder layers
    state_decoder_hidden: tuple[int, ...] = (64, 32)  # state decoder layers (walker: 256, 128)
    buffer_trials: int = 1000  # FIFO of trials kept in the training state (paper: 10,000)
    batch_trials: int = 10  # trials per VAE update
    elbo_steps: int | None = 50  # ELBO timesteps t sampled per trial; None: every timestep
    decode_steps: int | None = 50  # decoded timesteps per ELBO term; None: the whole trial
    updates_per_ppo: int = 1  # VAE updates per PPO update
    precollect_steps: int = 5000  # env steps per run collected before the first VAE update

    def __post_init__(self) -> None:
        for name in ("lr", "buffer_trials", "batch_trials", "updates_per_ppo"):
            check_positive(f"vae.{name}", getattr(self, name))
        for name in ("state_embed_dim", "action_embed_dim"):
            check_non_negative_int(f"vae.{name}", getattr(self, name))
        for name in ("elbo_steps", "decode_steps"):
            if getattr(self, name) is not None:
                check_positive(f"vae.{name}", getattr(self, name))
        check_choice("vae.loss_reduction", self.loss_reduction, VAE_LOSS_REDUCTIONS)
        check_choice("vae.reward_decoder", self.reward_decoder, VAE_REWARD_DECODERS)
        check_choice("vae.reward_loss", self.reward_loss, VAE_REWARD_LOSSES)
        if not (self.decode_reward or self.decode_state):
            raise ConfigError(
                "vae.decode_reward, vae.decode_state: at least one must be True, got both False"
            )
        check_non_negative("vae.kl_weight", self.kl_weight)
        if self.precollect_steps < 0:
            raise ConfigError(f"vae.precollect_steps: must be >= 0, got {self.precollect_steps!r}")
        for name in ("decoder_hidden", "state_decoder_hidden"):
            for width in getattr(self, name):
                check_positive(f"vae.{name}", width)

    def replace(self, **changes) -> VAEConfig:
        return dataclasses.replace(self, **changes)


ALGOS = ("rl2", "varibad", "oracle")


@dataclass(frozen=True)
class TrainConfig:
    """One training run's static setup. Init scheme, seed and PPO coefficients are per-run data."""

    env: str = "grid-world"
    # rl2: GRU memory trained by PPO; varibad: GRU posterior trained as a VAE, the policy reads
    # its mean and log-variance; oracle: the policy sees the true task (multi-task upper bound).
    algo: str = "rl2"
    episode_length: int | None = None  # None: the env's default
    episodes_per_trial: int | None = None
    backend: str | None = None  # Brax pipeline for physics tasks; None: the env's default
    total_env_steps: int = 200_000  # per run; rounded down to whole chunks of updates
    updates_per_chunk: int = 10  # the host loop logs (and later checkpoints) once per chunk
    # Each chunk ends with the policy's diagnostics (`hyperjax.diagnostics`: generated-weight
    # scale, saturation, task sensitivity, head norm) on this many of its last rollout's
    # (obs, z) samples; 0 turns them off. They never change what is trained.
    diagnostic_samples: int = 64
    policy: PolicyConfig = PolicyConfig()
    encoder: EncoderConfig = EncoderConfig()
    ppo: PPOConfig = PPOConfig()
    vae: VAEConfig = VAEConfig()  # used by algo=varibad only
    # A trial that starts inside a rollout: "authors" starts its memory from enc(h0; the finished
    # trial's last action, reward and final observation), as their rollout resets the hidden
    # state and then encodes that transition (H utils/helpers.py:213-221, metalearner.py:243);
    # "zero" from enc(h0; 0, 0, s_0), as every trial starts at evaluation.
    trial_start_input: str = "authors"
    # RL2 only. False (the authors'): the memory restarts at every rollout, even mid-trial, since
    # their RL2 keeps no running trajectory to re-encode (H metalearner.py:202-209, 253: the
    # insert is skipped with the decoder disabled, so encode_running_trajectory gives the prior).
    # True: it carries on across rollouts until the trial ends.
    rl2_memory_across_rollouts: bool = False

    def __post_init__(self) -> None:
        from hyperjax import envs  # late import: envs pulls in Brax

        check_choice("env", self.env, envs.names())
        check_choice("algo", self.algo, ALGOS)
        check_choice("trial_start_input", self.trial_start_input, TRIAL_START_INPUTS)
        check_positive("total_env_steps", self.total_env_steps)
        check_positive("updates_per_chunk", self.updates_per_chunk)
        check_non_negative_int("diagnostic_samples", self.diagnostic_samples)
        if self.episode_length is not None:
            check_positive("episode_length", self.episode_length)
        self._check_minibatches()
        if self.episodes_per_trial is not None and self.episodes_per_trial < 1:
            raise ConfigError(f"episodes_per_trial: must be >= 1, got {self.episodes_per_trial}")
        if self.algo == "varibad" and self.vae.buffer_trials < 2 * self.ppo.num_envs:
            # Every env's unfinished trial holds a slot; the rest must hold finished ones.
            raise ConfigError(
                f"vae.buffer_trials: must be >= 2 x ppo.num_envs = {2 * self.ppo.num_envs}, "
                f"got {self.vae.buffer_trials}"
            )
        if (
            self.algo == "varibad"
            and self.vae.batch_trials > self.vae.buffer_trials - self.ppo.num_envs
        ):
            # Trials are drawn without replacement from the finished ones the buffer holds.
            raise ConfigError(
                f"vae.batch_trials: must be <= vae.buffer_trials - ppo.num_envs = "
                f"{self.vae.buffer_trials - self.ppo.num_envs}, got {self.vae.batch_trials}"
            )
        if self.num_chunks < 1:
            raise ConfigError(
                f"total_env_steps: {self.total_env_steps} is less than one chunk of "
                f"{self.steps_per_chunk} steps (num_envs x num_steps x updates_per_chunk)"
            )

    def _check_minibatches(self) -> None:
        """RL2's minibatches split the envs (each keeps whole sequences for its GRU); the other
        algorithms' split the rollout's num_envs x num_steps samples (ML10's 10 envs in 8
        minibatches, as the authors' 8)."""
        ppo = self.ppo
        if self.algo == "rl2" and ppo.num_envs % ppo.minibatches:
            raise ConfigError(
                f"ppo.minibatches: must divide ppo.num_envs={ppo.num_envs} (RL2 splits whole env "
                f"sequences), got {ppo.minibatches}"
            )
        if (ppo.num_envs * ppo.num_steps) % ppo.minibatches:
            raise ConfigError(
                f"ppo.minibatches: must divide ppo.num_envs x ppo.num_steps = "
                f"{ppo.num_envs * ppo.num_steps}, got {ppo.minibatches}"
            )

    @property
    def steps_per_update(self) -> int:
        return self.ppo.num_envs * self.ppo.num_steps

    @property
    def steps_per_chunk(self) -> int:
        return self.steps_per_update * self.updates_per_chunk

    @property
    def num_chunks(self) -> int:
        return self.total_env_steps // self.steps_per_chunk

    def env_overrides(self) -> dict:
        overrides = {
            "episode_length": self.episode_length,
            "episodes_per_trial": self.episodes_per_trial,
            "backend": self.backend,
        }
        return {k: v for k, v in overrides.items() if v is not None}

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

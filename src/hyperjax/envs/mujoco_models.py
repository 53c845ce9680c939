"""The authors' MuJoCo models (gym's, as shipped by gymnasium) stepped by MJX.

The `mujoco` backend of the locomotion and dynamics tasks: the body, its contacts and its
integrator are the gym XML that the authors' env classes load, stepped with `mujoco.mjx` (MuJoCo
itself in JAX, so it runs inside jit/vmap on CPU, GPU and TPU). The XMLs are gymnasium's package
data, loaded from the installed package, not copied here. Against the authors' files:

- half_cheetah: gym 0.17.2's `half_cheetah.xml` (H `half_cheetah.py` subclasses gym's env);
  gymnasium's has the identical text.
- ant: H `environments/mujoco/assets/ant.xml`, gym's ant plus two visual sites; gymnasium's
  `ant.xml` has the same bodies, joints and actuators.
- humanoid: gym 0.17.2's `humanoid.xml` (V `humanoid_dir.py`); gymnasium's compiles to the same
  model.
- walker2d, hopper: H `rand_param_envs/gym/envs/mujoco/assets/*.xml` (global coordinates,
  timestep 0.004); gymnasium's (local coordinates) with the timestep set to 0.004 have the same
  masses, inertias, frictions, damping and joint placements, and step to the same states.

Two departures from MuJoCo come from MJX. MJX has no PGS solver, so the humanoid (PGS in its
XML) uses Newton, which solves the same convex contact problem. And MJX orients a capsule-plane
contact's tangent frame along the world axes where MuJoCo aligns it with the capsule, so under
the XML's pyramidal friction cone the ant's diagonal legs feel a friction pyramid rotated by 45
degrees; we keep the authors' cone. tests/test_envs_mujoco.py shows that with the
rotation-invariant elliptic cone everything else about the ant matches MuJoCo's `mj_step`.

The pipeline state is Brax's `brax.mjx.base.State` (an `mjx.Data` with Brax's `q`, `qd`, `x`,
`xd` views), so the task code reads the same fields on every backend. As in MuJoCo, the fields
that `mj_step` computes before integrating (body positions, `cinert`, `cvel`, contact forces)
describe the start of the last substep; the authors' rewards read them that way too.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from brax.base import Motion, System, Transform
from brax.envs.base import State
from brax.io import mjcf
from brax.mjx.base import State as PipelineState
from mujoco import mjx

from hyperjax.errors import ConfigError

# The gymnasium release whose assets were checked against the authors' (see the table above).
ASSET_PACKAGE = "gymnasium"
ASSET_DIR = "envs/mujoco/assets"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How the authors' env class builds and resets one body.

    `qvel_noise` is "normal" (init_qvel + scale * N(0, 1)) or "uniform" (init_qvel + U(+-scale)).
    """

    xml: str
    frame_skip: int
    reset_noise_scale: float
    qvel_noise: str
    timestep: float | None = None  # overrides the XML's, where the authors' asset differs


MODELS: dict[str, ModelSpec] = {
    # gym 0.17.2 HalfCheetahEnv: frame_skip 5; qpos + U(+-0.1), qvel + 0.1 N(0, 1).
    "half_cheetah": ModelSpec("half_cheetah.xml", 5, 0.1, "normal"),
    # H environments/mujoco/ant.py:20-24 (frame_skip 5) and reset_model (:57-61): as the cheetah.
    "ant": ModelSpec("ant.xml", 5, 0.1, "normal"),
    # gym 0.17.2 HumanoidEnv: frame_skip 5; qpos and qvel + U(+-0.01).
    "humanoid": ModelSpec("humanoid.xml", 5, 0.01, "uniform"),
    # H rand_param_envs/base.py:70 builds both with frame_skip 4 on their XML's 0.004 s step;
    # walker2d_rand_params.py:36-41 / hopper_rand_params.py:37-41: qpos and qvel + U(+-0.005).
    "walker2d": ModelSpec("walker2d.xml", 4, 0.005, "uniform", timestep=0.004),
    "hopper": ModelSpec("hopper.xml", 4, 0.005, "uniform", timestep=0.004),
}


def asset_path(xml: str) -> str:
    """The path of gymnasium's model file `xml`; a one-line error when it is missing."""
    try:
        root = importlib.resources.files(ASSET_PACKAGE) / ASSET_DIR
    except ModuleNotFoundError:
        raise ConfigError(
            "env.backend: 'mujoco' loads the gym models from the gymnasium package, which is not "
            "installed; install hyperjax's pinned requirements (make install)"
        ) from None
    path = root / xml
    if not path.is_file():
        raise ConfigError(
            f"env.backend: 'mujoco' needs gymnasium's model asset {xml!r}, not found under {root}"
        )
    return str(path)


def load_mj_model(spec: ModelSpec) -> mujoco.MjModel:
    """The authors' model as a MuJoCo `MjModel` (the CPU reference and MJX's source)."""
    model = mujoco.MjModel.from_xml_path(asset_path(spec.xml))
    if spec.timestep is not None:
        model.opt.timestep = spec.timestep
    if model.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
        model.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON  # MJX has CG and Newton only
    return model


def load_system(spec: ModelSpec) -> System:
    """The model as a Brax `System` (an `mjx.Model` that also carries Brax's link view)."""
    return mjcf.load_model(load_mj_model(spec))


def pipeline_state(sys: System, data: mjx.Data) -> PipelineState:
    """Brax's view of MJX data: q, qd, body transforms and velocities (world body dropped)."""
    x = Transform(pos=data.xpos[1:], rot=data.xquat[1:])
    cvel = Motion(vel=data.cvel[1:, 3:], ang=data.cvel[1:, :3])
    offset = Transform.create(pos=data.xpos[1:] - data.subtree_com[sys.body_rootid[1:]])
    views = {"q": data.qpos, "qd": data.qvel, "x": x, "xd": offset.vmap().do(cvel)}
    if isinstance(data, PipelineState):
        return data.replace(**views)
    return PipelineState(**views, contact=None, **data.__dict__)  # contacts stay in data._impl


def data_from_mujoco(
    sys: System, mj_model: mujoco.MjModel, mj_data: mujoco.MjData
) -> PipelineState:
    """CPU MuJoCo data as a pipeline state, for computing our rewards from `mj_step`'s states."""
    return pipeline_state(sys, mjx.put_data(mj_model, mj_data))


class MujocoBody:
    """One of the authors' bodies on MJX, with the small surface `BraxTaskEnv` uses of a Brax env:
    `sys`, `dt`, `action_size`, `reset`, `pipeline_step` and `_get_obs`.

    `reset` is the authors' `reset_model`: the model's initial qpos/qvel (`qpos0`, zeros: what gym
    reads from `model.data` at load, not the ant XML's custom `init_qpos`) plus noise.
    `_get_obs` is the reference's observation for the cheetah, ant and humanoid; the tasks
    append what their classes add (e.g. the cheetah's torso position).
    """

    def __init__(self, name: str, reset_noise_scale: float | None = None):
        self.name = name
        self.spec = MODELS[name]
        self.mj_model = load_mj_model(self.spec)
        self.sys = mjcf.load_model(self.mj_model)
        self.reset_noise_scale = (
            self.spec.reset_noise_scale if reset_noise_scale is None else float(reset_noise_scale)
        )
        self._qpos0 = jnp.asarray(self.mj_model.qpos0)
        self._body_mass = jnp.asarray(self.mj_model.body_mass)

    @property
    def dt(self) -> float:
        return float(self.mj_model.opt.timestep) * self.spec.frame_skip

    @property
    def action_size(self) -> int:
        return int(self.mj_model.nu)

    def pipeline_init(self, qpos: jax.Array, qvel: jax.Array) -> PipelineState:
        return init(self.sys, qpos, qvel)

    def pipeline_step(self, state: PipelineState, ctrl: jax.Array) -> PipelineState:
        return step(self.sys, state, ctrl, self.spec.frame_skip)

    def reset(self, rng: jax.Array) -> State:
        q_key, qd_key = jax.random.split(rng)
        c = self.reset_noise_scale
        nq, nv = self.mj_model.nq, self.mj_model.nv
        qpos = self._qpos0 + jax.random.uniform(q_key, (nq,), minval=-c, maxval=c)
        if self.spec.qvel_noise == "normal":
            qvel = c * jax.random.normal(qd_key, (nv,))
        else:
            qvel = jax.random.uniform(qd_key, (nv,), minval=-c, maxval=c)
        ps = self.pipeline_init(qpos, qvel)
        zero = jnp.zeros(())
        return State(ps, self._get_obs(ps, jnp.zeros(self.action_size)), zero, zero, {}, {})

    def _get_obs(self, ps: PipelineState, action: jax.Array | None = None) -> jax.Array:
        if self.name == "half_cheetah":  # gym's: qpos without rootx, qvel
            return jnp.concatenate([ps.qpos[1:], ps.qvel])
        if self.name == "ant":  # H ant.py:50-54: qpos without x and y, qvel
            return jnp.concatenate([ps.qpos[2:], ps.qvel])
        if self.name == "humanoid":  # V humanoid_dir.py:56-64; cfrc_ext 0, as under MuJoCo 2.0
            return jnp.concatenate(
                [
                    ps.qpos[2:],
                    ps.qvel,
                    ps.cinert.ravel(),
                    ps.cvel.ravel(),
                    ps.qfrc_actuator,
                    jnp.zeros(self.mj_model.nbody * 6, ps.qpos.dtype),
                ]
            )
        # walker2d, hopper: the dynamics tasks build their own (`dynamics._RandParamsEnv._obs`).
        raise NotImplementedError(f"no observation for {self.name!r}")

    def mass_center(self, ps: PipelineState) -> jax.Array:
        """V humanoid_dir.py:11-14: the mass-weighted mean of the bodies' centres of mass."""
        mass = self._body_mass[:, None]
        return jnp.sum(mass * ps.xipos, axis=0) / jnp.sum(mass)


def init(sys: System, qpos: jax.Array, qvel: jax.Array) -> PipelineState:
    """MJX data at (qpos, qvel) after a forward pass, as a pipeline state."""
    data = mjx.make_data(sys).replace(qpos=qpos, qvel=qvel)
    return pipeline_state(sys, mjx.forward(sys, data))


def step(sys: System, state: PipelineState, ctrl: jax.Array, frame_skip: int) -> PipelineState:
    """`frame_skip` MJX steps with control `ctrl` held, as gym's `do_simulation`."""
    data = state.replace(ctrl=ctrl)
    data = jax.lax.fori_loop(0, frame_skip, lambda _, d: mjx.step(sys, d), data)
    return pipeline_state(sys, data)


def contact_forces(sys: System, state: Any) -> jax.Array:
    """MuJoCo's `cfrc_ext` (bodies x 6), as MuJoCo 1.50's `mj_step` filled it."""
    return mjx.rne_postconstraint(sys, state)._impl.cfrc_ext

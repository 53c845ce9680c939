"""Silence the known-harmless messages our dependencies print on import or model load, and
nothing else, so that the first line a user sees is ours.

- `mujoco.mjx` probes for NVIDIA Warp (an optional GPU backend) on import and *prints* "Failed
  to import warp" and "Failed to import mujoco_warp" when it is absent, the usual case.
- Brax warns on every model load that its pipelines are no longer maintained (issue 15 is about
  MJX).
- MuJoCo's compiler warns that Brax's half-cheetah asset uses the deprecated `settotalmass`.
Every other warning still reaches the user: MuJoCo's through our handler, on stderr.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings

_WARP_PROBE_LINES = ("Failed to import warp:", "Failed to import mujoco_warp:")
_BRAX_UNMAINTAINED = r"Brax System, piplines and environments are not actively being maintained"
KNOWN_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


def mujoco_warning(message: str) -> None:
    """MuJoCo's warning handler: drop the known-harmless ones, print the rest as MuJoCo does."""
    if any(known in message for known in KNOWN_MUJOCO_WARNINGS):
        return
    print(f"WARNING: {message}", file=sys.stderr)


def _import_mjx_quietly() -> None:
    if "mujoco.mjx" in sys.modules:
        return
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        import mujoco.mjx  # noqa: F401
    for line in printed.getvalue().splitlines():
        if not line.startswith(_WARP_PROBE_LINES):
            print(line)


def install() -> None:
    """Install the filters (idempotent)."""
    warnings.filterwarnings("ignore", message=_BRAX_UNMAINTAINED, category=UserWarning)
    _import_mjx_quietly()
    import mujoco

    mujoco.set_mju_user_warning(mujoco_warning)

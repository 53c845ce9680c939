"""The known-harmless messages of our dependencies are silenced, precisely: a command's first
line is ours, and any other warning still reaches the user."""

import subprocess
import sys
import warnings

import pytest

from hyperjax import quiet

KNOWN = ("Failed to import warp", "Failed to import mujoco_warp", "not actively being maintained")


def test_importing_hyperjax_and_loading_a_brax_body_prints_none_of_them():
    code = (
        "import hyperjax.train\nfrom hyperjax import envs\nenvs.make('cheetah-dir')\nprint('ours')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    for message in (*KNOWN, "settotalmass"):
        assert message not in output, output
    assert done.stdout.splitlines()[0] == "ours"


def test_other_mujoco_warnings_still_print(capsys):
    quiet.mujoco_warning("compiler attribute 'settotalmass' is deprecated and will be removed")
    quiet.mujoco_warning("Nan, Inf or huge value in QACC at DOF 3")
    err = capsys.readouterr().err
    assert err == "WARNING: Nan, Inf or huge value in QACC at DOF 3\n"


def test_other_user_warnings_are_not_filtered():
    quiet.install()
    with pytest.warns(UserWarning, match="something else"):
        warnings.warn("something else", UserWarning, stacklevel=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet.install()  # the filter is inserted again, in front
        warnings.warn(
            "Brax System, piplines and environments are not actively being maintained.",
            UserWarning,
            stacklevel=1,
        )
    assert caught == []

"""One error type for bad user input, so the CLI can print it as one line."""

import math

# Most file systems allow 255 bytes per file name.
MAX_NAME_BYTES = 255


class ConfigError(Exception):
    """Bad user input: names the field and what is allowed.

    Not a ValueError on purpose: tyro turns a ValueError raised while it builds a config into a
    boxed multi-line message; this one passes through to the CLI, which prints it as one line.
    """


def check_choice(field: str, value: object, allowed: tuple | list | dict) -> None:
    """Raise ConfigError unless `value` is one of `allowed`."""
    if value not in allowed:
        names = ", ".join(str(a) for a in allowed)
        raise ConfigError(f"{field}: unknown value {value!r}; allowed: {names}")


def check_positive(field: str, value: float) -> None:
    """Raise ConfigError unless `value` is a finite number > 0 (inf and nan are refused)."""
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(f"{field}: must be a finite number > 0, got {value!r}")


def check_non_negative(field: str, value: float) -> None:
    """Raise ConfigError unless `value` is a finite number >= 0."""
    if not value >= 0 or not math.isfinite(value):
        raise ConfigError(f"{field}: must be a finite number >= 0, got {value!r}")


def check_run_name(name: str) -> None:
    """A run name is one folder under the runs directory: no separators, not '.' or '..'."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(
            f"name: must be one folder name under --runs-dir (no '/', not '.' or '..'), "
            f"got {name!r}"
        )
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ConfigError(
            f"name: at most {MAX_NAME_BYTES} bytes (one folder name), got {len(name.encode())}"
        )

"""One error type for bad user input, so the CLI can print it as one line."""


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
    if not value > 0:
        raise ConfigError(f"{field}: must be > 0, got {value!r}")


def check_run_name(name: str) -> None:
    """A run name is one folder under the runs directory: no separators, not '.' or '..'."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(
            f"name: must be one folder name under --runs-dir (no '/', not '.' or '..'), "
            f"got {name!r}"
        )

"""Times the authors' training loop (github.com/jacooba/hyper) per iteration, their code unmodified.

benchmarks/vs_reference.py runs this with the reference environment's python, from inside a
scratch copy of their checkout:

    python time_main.py OUT.json WARMUP TIMED [their main.py flags...]

Their `main.main()` trains as usual. Two of their methods are wrapped: `OnlineStorage.after_update`
(called once at the end of every training iteration) stamps the time, and `MetaLearner.update`
marks the iterations that ran the PPO + VAE update (the first iterations only collect frames for
the VAE buffer, `--precollect_len`). After WARMUP + TIMED updating iterations training is stopped
and the TIMED iterations' seconds go to OUT.json with the frames per iteration. Standard library
only: it must import in their environment, not ours.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class _Enough(Exception):
    """Raised from the iteration hook to end their training once enough iterations are timed."""


def main() -> None:
    out, warmup, timed, *flags = sys.argv[1:]
    warmup, needed = int(warmup), int(warmup) + int(timed)
    # Their modules are top-level (main, metalearner, algorithms, ...): run from their checkout.
    sys.path.insert(0, str(Path.cwd()))
    import main as theirs
    from algorithms.online_storage import OnlineStorage
    from metalearner import MetaLearner

    update, after_update = MetaLearner.update, OnlineStorage.after_update
    seconds: list[float] = []
    state = {"last": time.perf_counter(), "updated": False, "frames": 0}

    def marked_update(self, *args, **kwargs):
        state["updated"] = True
        state["frames"] = self.args.num_processes * self.args.policy_num_steps
        return update(self, *args, **kwargs)

    def stamped_after_update(self):
        after_update(self)
        now = time.perf_counter()
        if state["updated"]:
            seconds.append(now - state["last"])
        state["last"], state["updated"] = now, False
        if len(seconds) == needed:
            raise _Enough

    MetaLearner.update = marked_update
    OnlineStorage.after_update = stamped_after_update
    sys.argv = ["main.py", *flags]
    try:
        theirs.main()
    except _Enough:
        pass
    else:
        raise SystemExit(f"their training ended after {len(seconds)} of {needed} updates")
    result = {"frames_per_iteration": state["frames"], "seconds": seconds[warmup:]}
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()

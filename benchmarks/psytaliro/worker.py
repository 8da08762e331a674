"""PSY-TaLiRo side of the adapter: runs in its own venv (benchmarks/psytaliro/.venv,
Python 3.11, `pip install psy-taliro`) and never imports sanp or torch.

Protocol (JSON lines): the parent writes one configuration line to our stdin; we run
one PSY-TaLiRo test (1 run, `budget` iterations) with its own optimiser and its RTAMT
discrete-time specification. Every sample becomes a line {"op": "rollout", "point": [...]}
on our stdout; the parent answers with {"states": [[...], ...], "sanp_robustness": r}
(one row per time step 0..T, one column per signal). At the end we write
{"op": "done", ...} with every evaluation and our timings. Anything else we or the
libraries print goes to stderr.
"""
from __future__ import annotations

import json
import sys
import time

_PROTO_OUT = sys.stdout
sys.stdout = sys.stderr  # keep the protocol channel clean


def send(obj) -> None:
    _PROTO_OUT.write(json.dumps(obj) + "\n")
    _PROTO_OUT.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("parent closed the pipe")
    return json.loads(line)


def main() -> int:
    t_import = time.perf_counter()
    import staliro
    from staliro import models, optimizers
    from staliro.specifications import rtamt as st_rtamt

    import_s = time.perf_counter() - t_import
    send({"op": "ready"})
    cfg = recv()
    names = cfg["names"]
    columns = {c: i for i, c in enumerate(cfg["columns"])}
    waits = [0.0]
    monitor = [0.0]
    sanp_rob: list[float] = []

    class SanpRollout(models.Model):
        """The system under test: one sanp rollout per sample, through the parent."""

        def simulate(self, inputs):
            point = [float(inputs.static[n]) for n in names]
            t0 = time.perf_counter()
            send({"op": "rollout", "point": point})
            reply = recv()
            waits[0] += time.perf_counter() - t0
            sanp_rob.append(reply["sanp_robustness"])
            states = reply["states"]
            return models.Result(times=[float(t) for t in range(len(states))], states=states, extra=None)

    class TimedSpec(st_rtamt.DiscreteMapped):
        def evaluate(self, trace):
            t0 = time.perf_counter()
            out = super().evaluate(trace)
            monitor[0] += time.perf_counter() - t0
            return out

    spec = TimedSpec(cfg["formula"], columns)
    if cfg["optimizer"] == "UniformRandom":
        opt = optimizers.UniformRandom(min_cost=0.0)
    elif cfg["optimizer"] == "DualAnnealing":
        opt = optimizers.DualAnnealing(min_cost=0.0)
    else:
        raise SystemExit(f"unknown optimizer {cfg['optimizer']!r}")
    options = staliro.TestOptions(
        runs=1,
        iterations=int(cfg["budget"]),
        seed=int(cfg["seed"]),
        static_inputs={n: (float(lo), float(hi)) for n, (lo, hi) in zip(names, cfg["bounds"])},
    )
    t0 = time.perf_counter()
    runs = staliro.staliro(SanpRollout(), spec, opt, options)
    total = time.perf_counter() - t0
    evals = runs[0].evaluations
    send({
        "op": "done",
        "costs": [float(e.cost) for e in evals],
        "points": [[float(e.inputs.static[n]) for n in names] for e in evals],
        "sanp_robustness": sanp_rob,
        "total_s": total,
        "wait_s": waits[0],
        "monitor_s": monitor[0],
        "import_s": import_s,
        "versions": {
            "psy-taliro": _version("psy-taliro"),
            "rtamt": _version("rtamt"),
            "scipy": _version("scipy"),
            "python": sys.version.split()[0],
        },
    })
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())

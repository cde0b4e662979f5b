"""What the accuracy study of DESIGN.md §7 runs: its constants, settings, jobs and removal sets.

:class:`BenchConfig` holds a run's settings, :func:`plan_jobs` turns them into the fits of the
study (:class:`Job`), and the plan helpers give each dataset's removal sets (a deterministic
function of the settings, the dataset and the seed). Uses the public API of leaveout only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import datasets as dsets
from . import _args
from .strategies import RANDOMISED, STRATEGIES, Scores, pick, sizes_for

COLUMNS = ("dataset", "strategy", "set_id", "size", "method", "target", "predicted",
           "predicted_plugin", "actual", "seconds", "retrain_seconds", "set_mean_leverage",
           "set_leverage")
METHODS = ("if", "rif", "newton", "newton5")
#: How each method of the study is asked of leaveout: ``newton5`` is the Newton step refined by
#: four gradient refreshes (``effects("newton", steps=5)``).
METHOD_CALLS = {"newton5": ("newton", {"steps": 5})}
TARGETS = ("test_loss", "test_prediction")

#: Real datasets of the default run (those whose packages are missing are skipped with a log).
DEFAULT_DATASETS = ("breast_cancer", "digits_3v8", "mnist_4v9", "pd_speech", "grants",
                    "fine_food_minilm", "fine_food_tfidf", "tweets_tfidf", "bikeshare")
QUICK_DATASETS = ("breast_cancer", "pd_speech", "mnist_4v9")
P_OVER_N_SWEEP = ("synthetic_p0.1", "synthetic_p0.3", "synthetic_p0.6", "synthetic_p1.5")
L2_SWEEP = ("synthetic_p0.6", (0.1, 1.0, 10.0, 100.0))
#: Bumped when the study's recipe changes (set planning, estimators, columns): checkpoints of
#: another version are not reused.
RECIPE_VERSION = 3  # 2: predicted_plugin and set_leverage columns; 3: the newton5 method
#: Largest fraction of n a removal set may have.
MAX_FRACTION = 0.5


@dataclass(frozen=True)
class Job:
    """One fit of the study: a dataset, possibly with its penalty overridden."""

    name: str
    dataset: str
    l2: float | None = None
    sweep: str = ""  # "", "p_over_n" or "l2"


@dataclass(frozen=True)
class BenchConfig:
    """Settings of a benchmark run (saved to meta.json next to the results).

    datasets : dataset names (None: the defaults, or the quick defaults with ``quick``; a str
        is one name; repeated names run once)
    quick : small data, two set sizes, one repeat (a few minutes on 2 cores)
    fractions : set sizes as fractions of n, each in (0, 0.5] (DESIGN.md §7: 0.1 %–5 %)
    repeats : sets per size for the randomised strategies (int >= 1)
    sweeps : add the synthetic p/n and λ sweeps
    strategies : which removal strategies (non-empty; a str is one name)
    n_jobs : processes for retraining (joblib); 1 runs in-process, -1 uses every CPU core;
        capped at the number of CPU cores
    seed : int in [0, 2**63): the datasets' splits and the random sets
    cache_dir : dataset cache directory (None: ``$LEAVEOUT_CACHE`` or ``~/.cache/leaveout``)
    heavy_flops : n·p² above which a dataset runs only two sizes and one repeat (> 0)

    Every field is checked here (TypeError / ValueError naming the field); lists become tuples.
    """

    datasets: tuple[str, ...] | None = None
    quick: bool = False
    fractions: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.05)
    repeats: int = 3
    sweeps: bool = True
    strategies: tuple[str, ...] = STRATEGIES
    n_jobs: int = 1
    seed: int = 0
    cache_dir: str | None = None
    heavy_flops: float = 2e10

    def __post_init__(self):
        # Checked and normalised once here (lists become tuples, so the config stays hashable).
        where = "BenchConfig"
        fix = object.__setattr__
        if self.datasets is not None:
            fix(self, "datasets", _args.check_names(self.datasets, "datasets", where,
                                                    dsets.available()))
        fix(self, "strategies", _args.check_names(self.strategies, "strategies", where,
                                                  STRATEGIES))
        fix(self, "quick", _args.check_bool(self.quick, "quick", where))
        fix(self, "sweeps", _args.check_bool(self.sweeps, "sweeps", where))
        fix(self, "fractions", _args.check_fractions(self.fractions, where, high=MAX_FRACTION))
        fix(self, "repeats", _args.check_int(self.repeats, "repeats", where, low=1,
                                             high=None))
        if _args._is_int(self.n_jobs) and int(self.n_jobs) == 0:
            raise ValueError("The 'n_jobs' parameter of BenchConfig must be a non-zero int "
                             "(the number of processes; -1 = all CPU cores). Got 0 instead.")
        fix(self, "n_jobs", _args.check_int(self.n_jobs, "n_jobs", where, low=-(2**31),
                                            high=None))
        fix(self, "seed", _args.check_seed(self.seed, where))
        fix(self, "cache_dir", _args.check_cache_dir(self.cache_dir, where))
        fix(self, "heavy_flops", _args.check_positive(self.heavy_flops, "heavy_flops", where))


def plan_jobs(cfg: BenchConfig) -> list[Job]:
    names = cfg.datasets if cfg.datasets is not None else (
        QUICK_DATASETS if cfg.quick else DEFAULT_DATASETS)
    jobs = [Job(n, n) for n in names]
    if cfg.sweeps:
        jobs += [Job(n, n, sweep="p_over_n") for n in P_OVER_N_SWEEP]
        base, l2s = L2_SWEEP
        jobs += [Job(f"{base}_l2={l2:g}", base, l2=l2, sweep="l2") for l2 in l2s]
    return jobs


def _effective(cfg: BenchConfig, heavy: bool):
    """(fractions, repeats) a dataset runs with: quick runs and heavy datasets use two set sizes
    and one repeat."""
    if cfg.quick or heavy:
        return (0.01, 0.05), 1
    return cfg.fractions, cfg.repeats


def _plan_meta(n: int, cfg: BenchConfig, heavy: bool) -> list[dict]:
    """Each set's id, strategy, size and repeat, in run order (no rows picked yet)."""
    fractions, repeats = _effective(cfg, heavy)
    plan = []
    for k in sizes_for(n, fractions):
        for strategy in cfg.strategies:
            for rep in range(repeats if strategy in RANDOMISED else 1):
                plan.append({"set_id": len(plan), "strategy": strategy, "size": int(k),
                             "repeat": rep})
    return plan


def _plan_sets(job: Job, cfg: BenchConfig, X, scores: Scores, heavy: bool):
    plan = _plan_meta(X.shape[0], cfg, heavy)
    rng = np.random.default_rng([cfg.seed, sum(map(ord, job.name))])
    sets = [pick(p["strategy"], p["size"], X, scores, rng).astype(np.int64) for p in plan]
    return plan, sets

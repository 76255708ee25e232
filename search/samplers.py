"""The samplers and pruners a study can name, one registry each; the spec's choices are these names.

Adding an Optuna sampler or pruner is one entry here (plus its test): `search.spec` takes the names for
its `search.sampler` / `search.pruner.kind` choices and `search.optuna_backend` builds from the entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import optuna

if TYPE_CHECKING:
    from search.spec import StudySpec

# spec, seed -> the sampler (each Optuna worker process gets its own seed)
SAMPLERS: dict[str, Callable[[StudySpec, int | None], optuna.samplers.BaseSampler]] = {
    "tpe": lambda spec, seed: optuna.samplers.TPESampler(
        multivariate=True, group=True, seed=seed, n_startup_trials=spec.search.n_startup_trials
    ),
    "gp": lambda spec, seed: optuna.samplers.GPSampler(
        seed=seed, n_startup_trials=spec.search.n_startup_trials, warn_independent_sampling=False
    ),
    "random": lambda spec, seed: optuna.samplers.RandomSampler(seed=seed),
    # The grid's points are enqueued (optuna_backend.enqueue_grid): nothing is left to sample.
    "grid": lambda spec, seed: optuna.samplers.RandomSampler(seed=seed),
    "bruteforce": lambda spec, seed: optuna.samplers.BruteForceSampler(seed=seed, avoid_premature_stop=True),
}


def _min_resource(spec: StudySpec) -> int:
    return spec.search.pruner.min_resource or spec.trial.eval_every or 1


# spec -> the Optuna pruner
PRUNERS: dict[str, Callable[[StudySpec], optuna.pruners.BasePruner]] = {
    "none": lambda spec: optuna.pruners.NopPruner(),
    "median": lambda spec: optuna.pruners.MedianPruner(
        n_startup_trials=spec.search.pruner.n_startup_trials, n_warmup_steps=spec.search.pruner.n_warmup_steps
    ),
    "hyperband": lambda spec: optuna.pruners.HyperbandPruner(
        min_resource=_min_resource(spec),
        max_resource=spec.trial.steps if spec.trial.epochs is None else "auto",
        reduction_factor=spec.search.pruner.reduction_factor,
    ),
    "successive_halving": lambda spec: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=_min_resource(spec), reduction_factor=spec.search.pruner.reduction_factor
    ),
}
# Ray Tune's trial schedulers (search.ray_backend): on the Ray backend they are the one pruning authority.
RAY_SCHEDULERS = ("asha",)
PRUNER_KINDS = (*PRUNERS, *RAY_SCHEDULERS)

"""search.importance on real Optuna studies: trained configurations only, an sd per parameter, a stated minimum."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from search.importance import MIN_TRAINED, SEEDS, from_samples, from_study

DISTRIBUTIONS = {
    "TR": optuna.distributions.CategoricalDistribution(["invariant", "distinctive", "off"]),
    "lr": optuna.distributions.FloatDistribution(0.01, 0.3),
}


def _trained(i: int) -> optuna.trial.FrozenTrial:
    tr = ("invariant", "distinctive", "off")[i % 3]
    score = {"invariant": 0.6, "distinctive": 0.3, "off": 0.1}[tr] + 0.01 * (i % 4)
    return optuna.trial.create_trial(
        params={"TR": tr, "lr": 0.01 + 0.02 * i}, distributions=DISTRIBUTIONS, value=score, user_attrs={"trained": True}
    )


def _study(n: int, extras: bool) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trained(i) for i in range(n)])
    if extras:
        copy = {"params": {"TR": "off", "lr": 0.29}, "distributions": DISTRIBUTIONS}
        study.add_trials(
            [
                # a duplicate as stored now (PRUNED, no value) and as stored before (COMPLETE with its original's value)
                optuna.trial.create_trial(**copy, state=TrialState.PRUNED, user_attrs={"duplicate_of": 2}),
                optuna.trial.create_trial(**copy, value=0.99, user_attrs={"duplicate_of": 2, "trained": False}),
                optuna.trial.create_trial(**copy, state=TrialState.FAIL, user_attrs={"infeasible": "no positives"}),
            ]
        )
    return study


def test_duplicates_and_infeasible_proposals_are_no_samples():
    clean, noisy = from_study(_study(9, extras=False)), from_study(_study(9, extras=True))
    assert noisy.importances == clean.importances and noisy.sd == clean.sd
    assert noisy.trained == clean.trained == 9 and noisy.trials == 12
    assert max(clean.importances, key=clean.importances.get) == "TR"


def test_each_parameter_has_a_mean_and_an_sd_over_the_seeds():
    result = from_study(_study(12, extras=False))
    assert set(result.sd) == set(result.importances) == {"TR", "lr"} and result.seeds == len(SEEDS) > 1
    assert abs(sum(result.importances.values()) - 1.0) < 1e-9  # each seed's importances sum to 1
    assert all(v >= 0 for v in result.sd.values())
    line = result.line()
    assert f"TR {result.importances['TR']:.2f} ± {result.sd['TR']:.2f}" in line and "on 12 trained" in line
    # The same samples in any order give the same numbers (both surfaces sort by trial number).
    samples = [(t.number, t.params, t.value) for t in _study(12, extras=False).trials]
    assert from_samples(list(reversed(samples)), 12).importances == result.importances


def test_below_the_minimum_the_answer_is_not_enough_trained_configurations():
    result = from_study(_study(MIN_TRAINED - 1, extras=True))
    assert result.importances == {} and result.trained == MIN_TRAINED - 1
    assert result.note.startswith(f"not enough trained configurations ({MIN_TRAINED - 1} of {MIN_TRAINED})")
    assert result.note in result.line()


def test_a_configuration_trained_twice_is_one_configuration():
    """Two trials with the same params (trained twice, e.g. by two workers) are one configuration with their mean
    score: the count says 9, not 10, and the importances are those of the 9 with that mean."""
    samples = [(t.number, t.params, t.value) for t in _study(9, extras=False).trials]
    number, params, value = samples[4]
    twice = from_samples([*samples, (9, dict(params), value + 0.02)], 10)
    averaged = [(n, p, v + 0.01 if n == number else v) for n, p, v in samples]
    assert twice.trained == 9 and twice.importances == from_samples(averaged, 10).importances

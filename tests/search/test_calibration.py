"""Proxy calibration: rank agreement statistics against hand computations and a synthetic objective of known
tau, the recommendation and pruning gate, and a real calibration of a tiny study."""

from __future__ import annotations

import math

import numpy as np
import pytest

from search.calibration import Calibration, agreement, icc1, kendall_tau, report

from .conftest import tiny_raw, tiny_spec


def test_kendall_tau_of_hand_made_rankings():
    assert kendall_tau([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # one adjacent swap among 5: 9 concordant and 1 discordant of 10 pairs -> (9 - 1) / 10
    assert kendall_tau([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.8)
    assert kendall_tau([1, 2, 3], [7, 7, 7]) is None  # a constant ranking ranks nothing


def test_the_bootstraps_vectorised_tau_is_scipys_tau_b_ties_included():
    from scipy import stats

    from search.calibration import tau_b_rows

    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, (50, 7)).astype(float), rng.integers(0, 4, (50, 7)).astype(float)  # many ties
    expected = [stats.kendalltau(x, y)[0] for x, y in zip(a, b, strict=True)]
    assert np.allclose(tau_b_rows(a, b), expected, equal_nan=True)


def test_icc_of_hand_made_matrices():
    # rows differ, seeds agree exactly: all variance is between configurations
    assert icc1(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])) == pytest.approx(1.0)
    # two configurations, two seeds: means 1 and 3, within-row deviations +-1
    # MSB = 2 * ((1 - 2)^2 + (3 - 2)^2) / 1 = 4, MSW = 4 / 2 = 2, ICC = (4 - 2) / (4 + 2)
    assert icc1(np.array([[0.0, 2.0], [2.0, 4.0]])) == pytest.approx(1 / 3)
    assert icc1(np.array([[1.0], [2.0]])) is None  # one seed: no within-configuration variance to compare


def test_the_interval_covers_the_known_tau_of_a_synthetic_objective():
    """Short-budget score = true quality + noise of known size: for a bivariate normal, Kendall's tau is
    (2 / pi) arcsin(rho), with rho = sd_quality / sqrt(sd_quality^2 + sd_noise^2)."""
    rng = np.random.default_rng(7)
    quality = rng.normal(0.0, 1.0, 60)
    short = quality + rng.normal(0.0, 0.75, 60)
    known = 2 / math.pi * math.asin(1 / math.sqrt(1 + 0.75**2))  # 0.59
    found = agreement(short, quality)
    assert found.low < known < found.high
    assert found.high - found.low < 0.35  # 60 configurations pin tau down to about +-0.15
    # with no noise the ranking is the reference's
    assert agreement(quality, quality).tau == pytest.approx(1.0)


def test_a_perfect_ranking_of_few_configurations_has_no_interval_but_says_how_rare_it_is():
    """Six configurations in the same order: every bootstrap resample agrees too, so its [1, 1] would claim a
    certainty six configurations cannot give. No interval; p = 1 / 6! that independent rankings agree fully."""
    perfect = agreement(range(6), range(6))
    assert perfect.tau == pytest.approx(1.0) and perfect.low is None and perfect.high is None
    assert perfect.p == pytest.approx(1 / math.factorial(6))
    assert "tau +1.00 (no interval: every pair agrees), p 0.001 with no association" in perfect.text()
    one_swap = agreement([0, 1, 2, 3, 5, 4], range(6))  # 14 of 15 pairs agree: tau 13/15
    assert one_swap.tau == pytest.approx(13 / 15) and one_swap.low < one_swap.tau and one_swap.high == 1.0
    assert one_swap.p == pytest.approx(6 / math.factorial(6))  # orders with at most one swapped pair: 1 + 5
    assert agreement(range(6), range(6)[::-1]).text().startswith("tau -1.00 (no interval: every pair disagrees)")


def _synthetic() -> Calibration:
    """Five configurations whose reference ranking is 0 < 1 < 2 < 3 < 4. The 100-step budget ranks them
    (tau 0.4, below the bar), the 300-step budget with one adjacent swap (tau 0.8); the 300-step runs'
    intermediate scores at step 100 rank like their final scores, those at step 200 do not."""
    reference = [[0.1, 0.12], [0.2, 0.22], [0.3, 0.31], [0.4, 0.42], [0.5, 0.5]]
    budget_100 = [[0.3, 0.3], [0.1, 0.1], [0.2, 0.2], [0.5, 0.5], [0.4, 0.4]]  # tau 0.4
    budget_300 = [[0.1, 0.1], [0.3, 0.3], [0.2, 0.2], [0.4, 0.4], [0.5, 0.5]]  # tau 0.8
    return Calibration(
        configurations=[f"c{i}" for i in range(5)],
        seeds=[0, 1],
        reference_steps=1200,
        study_steps=300,
        threshold=0.6,
        scores={100: budget_100, 300: budget_300, 1200: reference},
        intermediate={100: [0.05, 0.15, 0.1, 0.2, 0.25], 200: [0.5, 0.4, 0.3, 0.2, 0.1]},
    )


def test_the_shortest_agreeing_budget_is_recommended_and_a_pruner_only_acts_where_steps_agree():
    calibration = _synthetic()
    assert calibration.budget_agreement(100).tau == pytest.approx(0.4)
    assert calibration.budget_agreement(300).tau == pytest.approx(0.8)
    assert calibration.recommended_steps() == 300
    # the final (first-seed) 300-step scores are 0.1 0.3 0.2 0.4 0.5: step 100's ranking is theirs
    assert calibration.step_agreement(100).tau == pytest.approx(1.0)
    assert calibration.step_agreement(200).tau == pytest.approx(-0.8)  # the reverse of a ranking with one swap
    assert calibration.pruning_steps() == [100]
    text = report(calibration)
    assert "Shortest budget that ranks like the reference (tau >= 0.6, p < 0.05): 300 steps." in text
    assert "A pruner may act at steps 100." in text


def test_no_agreeing_budget_says_so_and_disables_pruning():
    calibration = _synthetic()
    calibration.threshold = 0.9
    assert calibration.recommended_steps() is None and calibration.pruning_steps() == [100]
    calibration.intermediate = {200: calibration.intermediate[200]}
    text = report(calibration)
    assert "No budget tried ranks like the reference" in text and "it is not used" in text


def test_a_calibration_survives_storage_as_json():
    import json

    calibration = _synthetic()
    stored = json.loads(json.dumps(calibration.as_dict()))
    again = Calibration.from_dict(stored)
    assert again.as_dict() == calibration.as_dict()
    assert stored["recommended_steps"] == 300 and stored["pruning_steps"] == [100]
    assert stored["budgets"]["300"]["tau"] == pytest.approx(0.8)


@pytest.mark.slow
def test_gdt_search_calibrate_trains_every_configuration_at_every_budget_and_stores_the_result(tmp_path, capsys):
    """... and the file it writes is adopted by another study of the same trial design, refused by others."""
    import json

    import optuna

    from api.cli import main
    from search.calibration import study_calibration
    from search.spec import load_spec

    raw = tiny_raw(tmp_path, "calibrated")
    (tmp_path / "study.json").write_text(json.dumps(raw))
    out = tmp_path / "calibration.json"
    code = main(["calibrate", str(tmp_path / "study.json"), "--configurations", "3", "--budgets", "1",
                 "--reference-steps", "4", "--eval-every", "1", "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("   4 steps  ") == 3  # each configuration's reference training, as it finished
    assert "reference: 4 steps" in printed and "intermediate at step 1:" in printed

    written = json.loads(out.read_text())
    assert sorted(written["scores"]) == ["1", "2", "4"]  # the budget asked for, the study's (2), the reference
    assert all(len(per_config) == 3 and all(len(seeds) == 1 for seeds in per_config)
               for per_config in written["scores"].values())  # fmt: skip
    assert list(written["intermediate"]) == ["1"] and len(written["intermediate"]["1"]) == 3

    spec = load_spec(raw)
    stored = study_calibration(optuna.load_study(study_name=spec.name, storage=spec.database_url))
    assert stored is not None and stored.as_dict() == written

    # Calibrate once, search many times: a study of the same design stores the file without training.
    study = str(tmp_path / "study.json")
    assert main(["calibrate", study, "--name", "adopter", "--from", str(out)]) == 0
    assert "adopted " in capsys.readouterr().out
    adopted = study_calibration(optuna.load_study(study_name="adopter", storage=spec.database_url))
    assert adopted is not None and adopted.as_dict() == written
    # Another evaluation is another design; another budget is another calibration. Each said, with the file.
    other = ["--set", "evaluation.clips_per_video=2"]
    assert main(["calibrate", study, "--name", "other", *other, "--from", str(out)]) == 2
    assert f"{out}: it calibrated another trial design" in capsys.readouterr().err
    assert main(["calibrate", study, "--name", "longer", "--set", "trial.steps=3", "--from", str(out)]) == 2
    assert f"{out}: it calibrated 2-step trials; this study trains 3" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text('{"configurations": ')
    assert main(["calibrate", study, "--name", "broken", "--from", str(tmp_path / "broken.json")]) == 2
    assert "broken.json: " in capsys.readouterr().err


def test_gdt_search_calibrate_refuses_a_reference_no_longer_than_the_budgets(tmp_path, capsys):
    import json

    from api.cli import main

    (tmp_path / "study.json").write_text(json.dumps(tiny_raw(tmp_path)))
    assert main(["calibrate", str(tmp_path / "study.json"), "--reference-steps", "2"]) == 2
    assert "reference_steps (2) must be longer than every budget (2)" in capsys.readouterr().err


def test_the_pruning_gate_says_where_a_pruner_may_act(tmp_path):
    from search.calibration import pruning_gate

    median = {"kind": "median", "n_startup_trials": 1}
    spec = tiny_spec(tmp_path, trial__steps=300, trial__eval_every=100, search__pruner=median)
    assert pruning_gate(tiny_spec(tmp_path), None) == (None, None)  # no pruner: nothing to say
    allowed, said = pruning_gate(spec, None)
    assert allowed == set() and "not used" in said and "gdt-search calibrate" in said
    acting = "pruner 'median' acts at steps 100 (calibrated); trials evaluate there only"
    assert pruning_gate(spec, _synthetic()) == ({100}, acting)
    # A calibrated step the study never evaluates at is no step to act at: said, not silently never pruned.
    off_grid = tiny_spec(tmp_path, trial__steps=300, trial__eval_every=150, search__pruner=median)
    allowed, said = pruning_gate(off_grid, _synthetic())
    assert allowed == set() and "calibrated steps (100) are not among the study's evaluation steps" in said
    other_budget = tiny_spec(tmp_path, trial__steps=600, trial__eval_every=100, search__pruner=median)
    allowed, said = pruning_gate(other_budget, _synthetic())
    assert allowed == set() and "for 300-step trials, the study trains 600 steps" in said
    anyway = tiny_spec(tmp_path, trial__steps=300, trial__eval_every=100,
                       search__pruner={**median, "require_calibration": False})  # fmt: skip
    assert pruning_gate(anyway, None)[0] is None


def test_a_calibration_reference_must_be_longer_than_the_budgets(tmp_path):
    from search.spec import SpecError

    with pytest.raises(SpecError, match="search.calibration.reference_steps"):
        tiny_spec(tmp_path, search__calibration={"budgets": [1], "reference_steps": 2})  # trial.steps is 2


@pytest.mark.slow
def test_a_study_asking_for_calibration_calibrates_once_before_its_trials(tmp_path):
    from search.optuna_backend import run_optuna
    from search.recorder import JsonlRecorder

    spec = tiny_spec(tmp_path, "calibrated-first", search__n_trials=1,
                     search__calibration={"configurations": 3, "budgets": [1], "reference_steps": 4})  # fmt: skip
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    stored = study.user_attrs["gdt_calibration"]
    assert sorted(stored["scores"]) == ["1", "2", "4"] and len(stored["configurations"]) == 3
    events = [e["event"] for e in recorder.events()]
    assert events.index("calibration_measured") < events.index("trial_finished")  # before any trial
    run_optuna(spec, recorder)  # resumed: the stored calibration is reused, not measured again
    first, again = [e for e in recorder.events() if e["event"] == "calibration_measured"]
    assert again["calibration"] == first["calibration"] == stored


def test_a_ranking_that_unrelated_rankings_reach_often_is_no_agreement():
    """Three configurations in the same order (tau 1) happen by chance once in 3! = 6: above the 5 % a calibration
    allows, so neither a budget nor a pruner step agrees; five in the same order (p 1/120) do."""
    three = Calibration(configurations=["a", "b", "c"], seeds=[0], reference_steps=8, study_steps=2, threshold=0.6,
                        scores={2: [[0.1], [0.2], [0.3]], 8: [[0.1], [0.2], [0.3]]},
                        intermediate={1: [0.1, 0.2, 0.3]})  # fmt: skip
    assert three.budget_agreement(2).tau == pytest.approx(1.0) and three.budget_agreement(2).p == pytest.approx(1 / 6)
    assert three.recommended_steps() is None and three.pruning_steps() == []
    assert "No budget tried ranks like the reference (tau >= 0.6, p < 0.05)" in report(three)
    assert _synthetic().recommended_steps() == 300  # five configurations, one swap: tau 0.8, p 5/120 = 0.042

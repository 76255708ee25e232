"""The CLI's bad input: a message naming what is wrong (never a traceback) and exit status 2."""

from __future__ import annotations

import pytest

from api.cli import main
from api.settings import Limits
from api.submit import validate_submission
from search.spec import SpecError


def _bad_space(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: nothing-valid\nfactors:\n  TR: {choices: [distinctive]}\ntrial: {steps: 2}\n")
    return path


def test_run_refuses_a_space_with_no_valid_configuration_like_the_api(tmp_path, capsys):
    path = _bad_space(tmp_path)
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    assert main(["run", str(path), "--storage", storage, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: factors: no valid GDT configuration" in err and "no positives" in err
    with pytest.raises(SpecError) as api:  # the API's 422, same check, same words
        validate_submission({"factors": {"TR": {"choices": ["distinctive"]}}}, Limits(), storage)
    assert api.value.fields == ["factors"] and api.value.problems[0][1] in err
    assert not (tmp_path / "studies.db").exists()  # refused before the study was created


def test_check_names_the_choices_and_refuses_a_factor_given_twice(capsys):
    assert main(["check", "TR=bogus"]) == 2
    err = capsys.readouterr().err
    assert "'bogus'" in err and "invariant, distinctive, ignore, off" in err
    assert main(["check", "TR=invariant", "TR=distinctive"]) == 2
    assert "TR is given twice" in capsys.readouterr().err
    assert main(["check", "TR=invariant:x", "MOD=invariant"]) == 2
    assert "K_m must be a positive integer, got 'x'" in capsys.readouterr().err
    assert main(["check", "FOO=invariant"]) == 2
    assert "unknown factor 'FOO'" in capsys.readouterr().err
    assert main(["check", "TR=invariant", "MOD=invariant"]) == 0


def test_trial_with_a_clip_budget_too_small_for_the_preset_says_why(capsys):
    assert main(["trial", "--preset", "iccv-l", "--clip-budget", "8"]) == 2
    err = capsys.readouterr().err
    assert "gdt-search trial: preset iccv-l with --clip-budget 8: DS: K_i" in err and "raise the clip budget" in err


def test_presets_with_a_small_clip_budget_marks_the_invalid_ones(capsys):
    assert main(["presets", "--clip-budget", "8"]) == 0
    out = capsys.readouterr().out
    assert "iccv-l" in out and "invalid with --clip-budget 8" in out


def test_run_on_an_unreachable_database_names_it_without_a_traceback(capsys):
    assert main(["run", "--preset", "table1", "--storage", "postgresql://x@127.0.0.1:1/y"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gdt-search run: storage postgresql://x@127.0.0.1:1/y: cannot connect:")
    assert "Connection refused" in err and len(err.splitlines()) <= 2
    assert main(["run", "--preset", "table1", "--storage", "nosuchdb://x/y"]) == 2
    assert "unsupported database URL" in capsys.readouterr().err
    assert main(["run", "--preset", "table1", "--set", "trial.steps"]) == 2
    assert "--set: expected FIELD=VALUE, got 'trial.steps'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_on_an_unreachable_database_say_so(command, capsys):
    assert main([command, "--database-url", "postgresql://x@127.0.0.1:1/y"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gdt-search {command}: database postgresql+psycopg://x@127.0.0.1:1/y: cannot connect:")
    assert "Connection refused" in err and len(err.splitlines()) <= 2


def test_a_spec_file_s_problems_name_the_file_and_line_and_a_key_given_twice_is_refused(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text("name: lines\nfactors:\n  TR:\n    choices: [invariant]\ntrial:\n  steps: lots\n")
    assert main(["run", str(path), "--set", "search.seeds=0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"  {path}:6: trial.steps: Input should be a valid integer" in err
    assert "  command line: search.seeds: at least 1, got 0" in err  # a --set field is no line of the file
    # A parser keeps the last of two equal keys silently: this file would have trained 900 steps, not 2.
    path.write_text("name: twice\ntrial: {steps: 2}\nfactors: {TR: {choices: [invariant]}}\ntrial: {eval_every: 1}\n")
    assert main(["run", str(path), "--quiet"]) == 2
    assert "line 4: key 'trial' is given twice (first on line 2)" in capsys.readouterr().err
    unnamed = tmp_path / "my study.yaml"
    unnamed.write_text("factors: {TR: {choices: [invariant]}}\n")
    assert main(["run", str(unnamed), "--quiet"]) == 2
    assert "the spec has no `name:`, so it was taken from the file's name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--preset", "table1", "--set", "trial.steps=[1"], "--set trial.steps: '[1' is not a YAML value"),
        (["check", "TR=distinctive:²"], "K_m must be a positive integer, got '²'"),
        (["check", "TR=invariant", "MOD=invariant", "--clip-budget", "100000000000"], "must be 2 .. 65536"),
        (["trial", "--steps", "0"], "argument --steps: must be 1 .. 100000000, got 0"),
        (["serve", "--port", "99999"], "argument --port: must be 0 .. 65535, got 99999"),
        (["serve", "--workers", "-2"], "argument --workers: must be 0 .. 64, got -2"),
        (["calibrate", "--preset", "table1", "--budgets", "-5"], "--budgets: Input should be greater than or equal"),
        (["calibrate", "--preset", "table1", "--threshold", "5"], "--threshold: Input should be less than or equal"),
        (["calibrate", "--preset", "table1", "--configurations", "0"], "--configurations: Input should be greater"),
        (["calibrate", "--preset", "table1", "--eval-every", "-3"], "argument --eval-every: must be 1 .."),
        (["run", "--preset", "table1", "--record", "/proc/nowhere/x.jsonl"], "--record /proc/nowhere/x.jsonl: no such"),
    ],
)
def test_bad_command_lines_are_a_message_and_status_2(argv, words, tmp_path, capsys):
    if argv[0] in ("run", "calibrate"):
        argv = [*argv, "--storage", f"sqlite:///{tmp_path / 'studies.db'}"]
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's own usage errors
        status = exit.code
    assert status == 2 and words in capsys.readouterr().err


def test_calibrate_refuses_a_study_of_another_design_before_training(tmp_path, capsys):
    """A stored study whose trial design differs is found before any training (it used to be found after it, and
    the trained calibration was lost)."""
    from search.optuna_backend import open_study
    from search.spec import load_spec

    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    spec = load_spec({"name": "cal", "storage": storage, "factors": {"TR": {"choices": ["invariant"]}},
                      "trial": {"steps": 2}})  # fmt: skip
    open_study(spec)
    argv = ["calibrate", "--preset", "table1", "--name", "cal", "--storage", storage, "--configurations", "3"]
    assert main([*argv, "--set", "trial.steps=3"]) == 2
    captured = capsys.readouterr()
    assert "gdt-search calibrate: study 'cal' in" in captured.err and "was run with different" in captured.err
    assert "calibrating" not in captured.out  # refused before any training

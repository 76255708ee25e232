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

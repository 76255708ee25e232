"""One vocabulary, one record (issue 15, item 3): each concept is defined once, in the lowest layer that needs it,
and every other layer uses that very object.

Each test imports a vocabulary from its one home and checks that the other layers hold it, not a copy; the source
scans below fail when someone types one out again (a second tuple of trial states, the metric names, the choice
letters, HMDB-51's folder names, another RDBStorage built by hand, an exception outside the common base).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "search", "api")


def _sources(*folders: str) -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(), str(path))
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def _string_collections(tree: ast.Module) -> list[tuple[int, set[str]]]:
    """(line, the strings) of every tuple / list / set / Literal[...] of string constants, and of a dict of
    constants' keys and values (a dict that dispatches on the words to code uses them, it does not define them)."""
    out = []
    for node in ast.walk(tree):
        items = None
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict) and all(isinstance(v, ast.Constant) for v in node.values):
            items = [k for k in node.keys if k is not None]
            values = [v for v in node.values if isinstance(v.value, str)]
            if values:
                out.append((node.lineno, {v.value for v in values}))
        if items and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in items):
            out.append((node.lineno, {e.value for e in items}))
    return out


def _spelled_out(vocabulary: tuple[str, ...] | set[str], home: str) -> list[str]:
    """Where outside `home` the whole vocabulary is written out as literals again."""
    wanted = set(vocabulary)
    return [
        f"{path}:{line}"
        for path, tree in _sources(*LAYERS).items()
        if path != home
        for line, strings in _string_collections(tree)
        if wanted <= strings
    ]


# -- trial states, study statuses ---------------------------------------------------------------------------


def test_trial_states_are_defined_once_in_search_states():
    import api.models
    import api.schemas
    from search import states
    from search.recorder import TrialRecord

    # running until it ends; interrupted when the service stops it from outside; else as the recorder reports
    assert states.TRIAL_STATES == ("running", "interrupted", *states.FINISHED_STATES)
    assert api.models.TRIAL_STATES is states.TRIAL_STATES  # the service's trial rows
    assert api.schemas.TrialState is states.TrialState  # the API's schema
    assert typing.get_args(api.schemas.TrialOut.model_fields["state"].annotation) == states.TRIAL_STATES
    assert typing.get_type_hints(TrialRecord)["state"] is states.FinishedState  # what the recorder reports
    assert _spelled_out(states.FINISHED_STATES, "search/states.py") == []


def test_study_statuses_are_defined_once_in_api_models():
    import api.client
    import api.models
    import api.schemas

    assert api.schemas.StudyStatus is api.models.StudyStatus
    assert api.models.STUDY_STATUSES == typing.get_args(api.models.StudyStatus)
    assert set(api.models.FINISHED_STUDY) < set(api.models.STUDY_STATUSES)
    assert api.client.TERMINAL == set(api.models.FINISHED_STUDY)
    assert _spelled_out(api.models.FINISHED_STUDY, "api/models.py") == []


# -- metric names ---------------------------------------------------------------------------------------------


def test_metric_names_are_defined_once_in_core_evaluation_metrics():
    import api.dashboard.frame
    import api.dashboard.panels
    import search.runner
    import search.spec
    from core.evaluation.metrics import METRIC_LABELS, METRICS, ProxyScores

    assert METRICS == tuple(METRIC_LABELS)
    assert set(METRICS) <= {f.name for f in dataclasses.fields(ProxyScores)}  # each is a proxy score
    assert search.spec.METRICS is METRICS  # the objective's weights
    assert api.dashboard.frame.METRICS is METRICS and api.dashboard.panels.METRICS is METRICS
    assert typing.get_args(api.dashboard.panels.TableSort)[-len(METRICS) :] == METRICS
    assert all(METRIC_LABELS[metric] == label for label, metric in search.runner.SCORE_COLUMNS)
    objective = typing.get_args(search.spec.ObjectiveSection.model_fields["score"].annotation)
    assert set(objective) - {"weighted"} <= set(METRICS)
    assert _spelled_out(METRICS, "core/evaluation/metrics.py") == []


# -- choice letters -------------------------------------------------------------------------------------------


def test_choice_letters_are_defined_once_in_core_gdt_factors():
    import api.dashboard.panels
    import search.measurements
    from core.gdt.factors import CHOICE_OF_LETTER, LETTERS, Choice

    assert list(LETTERS) == list(Choice) and all(choice.letter == LETTERS[choice] for choice in Choice)
    assert CHOICE_OF_LETTER == {letter: choice for choice, letter in LETTERS.items()}
    assert api.dashboard.panels.CHOICE_ORDER == tuple(LETTERS.values())
    assert not hasattr(search.measurements, "LETTERS")  # it reads choices from the settings record, not letters
    assert _spelled_out(set(LETTERS.values()), "core/gdt/factors.py") == []


def test_a_configuration_is_recorded_as_data_and_its_notation_never_parsed_back():
    """A trial records its settings record (core.gdt.config.GDTConfig.settings_record) beside its notation, and
    readers take the record: the notation is written from it (`describe()`) and nothing reads it back (the one
    parser left is the frozen one inside migrations/versions/0008, which backfilled rows recorded before)."""
    import core.gdt.config
    from core.gdt.config import GDTConfig, describe_settings
    from search.recorder import TrialRecord, TrialStart

    assert not hasattr(core.gdt.config, "notation_cells")
    config = GDTConfig.build({"TS": ("invariant", 4), "TR": "distinctive"}, clip_budget=64)
    assert config.describe() == describe_settings(config.settings_record())
    assert "settings" in {f.name for f in dataclasses.fields(TrialStart)}
    assert "settings" in {f.name for f in dataclasses.fields(TrialRecord)}
    parsers = [
        f"{path}:{node.lineno}"
        for path, tree in _sources(*LAYERS, "benchmarks").items()
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "notation_cells")
        or (isinstance(node, ast.Attribute) and node.attr == "notation_cells")
        or (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "partition"
            and [getattr(a, "value", None) for a in node.args] == ["("]
        )  # 'i(2)'.partition("("): a notation cell taken apart
    ]
    assert parsers == []


# -- one name, one meaning ------------------------------------------------------------------------------------


def test_every_module_name_and_study_summary_name_one_thing():
    trees = _sources(*LAYERS)
    modules = [Path(path).stem for path in trees if Path(path).stem != "__init__"]
    # e.g. core.gdt.presets / search.study_presets, core.gdt.config / core.data.world.world_config
    assert sorted({m for m in modules if modules.count(m) > 1}) == []
    classes = [node.name for tree in trees.values() for node in tree.body if isinstance(node, ast.ClassDef)]
    assert classes.count("StudySummary") == 1  # api.schemas.StudySummary (search.runner's is StudyResults)


def test_hmdb_folder_names_are_defined_once_in_core_data_action_datasets():
    from core.data import action_datasets, world_export

    assert (world_export.HMDB_VIDEO_DIR, world_export.HMDB_SPLIT_DIR) == (
        action_datasets.HMDB_VIDEO_DIR,
        action_datasets.HMDB_SPLIT_DIR,
    )
    home = "core/data/action_datasets.py"
    docstrings = {
        id(node.body[0].value)
        for tree in _sources(*LAYERS).values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    literal = [
        f"{path}:{node.lineno}"
        for path, tree in _sources(*LAYERS).items()
        if path != home
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and id(node) not in docstrings
        and node.value in (action_datasets.HMDB_VIDEO_DIR, action_datasets.HMDB_SPLIT_DIR)
    ]
    assert literal == []


# -- one storage builder, one trial record --------------------------------------------------------------------


def test_optuna_rdb_storage_is_built_only_by_search_storage():
    import search.optuna_backend
    from search.storage import open_storage

    built = [
        f"{path}:{node.lineno}"
        for path, tree in _sources(*LAYERS, "tests", "benchmarks").items()
        if path != "search/storage.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == "RDBStorage" or getattr(node.func, "id", None) == "RDBStorage")
    ]
    assert built == []
    assert search.optuna_backend.open_storage is open_storage


def test_the_flat_trial_record_is_built_from_one_record():
    from core.trial import TrialResult

    source = (ROOT / "search" / "objective.py").read_text()
    assert "result.record()" in source  # the replay record is read from core.trial.TrialResult.record
    for attribute in (".evaluation.invariance", ".train.wall_seconds", ".evaluation.seconds", ".train.final_loss"):
        assert attribute not in source, attribute

    class Fake(TrialResult):
        def __init__(self):
            pass

        def record(self) -> dict:
            return {"scores": {"r_at_1": 0.5}, "invariance": {"TR": 0.2}, "train_steps": 3, "environment": {"x": 1}}

    fake = Fake()
    fake.config = "TR=i(2)"
    assert fake.summary() == {"config": "TR=i(2)", "score_r_at_1": 0.5, "invariance_TR": 0.2, "train_steps": 3, "x": 1}


# -- failures and exceptions ----------------------------------------------------------------------------------


def test_failures_carry_a_typed_kind_from_core_errors():
    import search.objective
    import search.ray_backend
    from core.errors import DETERMINISTIC_FAILURES, FailureKind
    from core.train.pretrain import TrainingFailed

    assert search.objective.DETERMINISTIC_FAILURES is DETERMINISTIC_FAILURES
    assert search.ray_backend.DETERMINISTIC_FAILURES is DETERMINISTIC_FAILURES
    assert search.objective.TrialFailed("no", "oom").kind is FailureKind.OOM
    assert TrainingFailed("why", 3).kind is FailureKind.TRAIN
    assert FailureKind.NON_FINITE.deterministic and not FailureKind.OOM.deterministic
    kinds = {FailureKind.NON_FINITE, FailureKind.CLIP_TOO_SHORT, FailureKind.NAN_SCORE, FailureKind.RAY_ERROR}
    spelled = [
        f"{path}:{node.lineno}"
        for path, tree in _sources(*LAYERS).items()
        if path != "core/errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in kinds
    ]
    assert spelled == []  # a kind is FailureKind.X, never its string, and never read back out of a reason


def test_every_exception_we_define_derives_from_gdt_search_error():
    builtin_errors = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException) and not issubclass(value, Warning)
    }
    outside = [
        f"{path}:{node.lineno} {node.name}"
        for path, tree in _sources(*LAYERS).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and node.name != "GDTSearchError"
        and any(getattr(base, "id", None) in builtin_errors for base in node.bases)
        and not any(getattr(base, "id", None) == "GDTSearchError" for base in node.bases)
    ]
    assert outside == []

"""A duplicate (a proposal equivalent to a trained configuration, which reused its result) is never a
measurement: the dashboard's Table 1, history, per-factor effect, invariance and parallel coordinates of a
study with duplicates are those of the same study without them, and the exports mark them, on SQLite and
the real PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from core.gdt.config import GDTConfig
from tests.api.conftest import tiny_spec
from tests.api.helpers import claim_for, record

# Recorded as the objective records them: notation and settings record (tests/api/helpers.record).
A = GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "invariant"})  # DS=d(8) TS=i(2) MOD=i(2) TR=i(2) ...
B = GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "distinctive"})
B_AGAIN = B.describe() + " budget=32"  # equivalent, written differently (recorded with B's settings)

TRAINED = [  # number, config, score, params, invariance
    (0, A, 0.4, {"TR": "invariant"}, {"TR": 0.9}),
    (1, B, 0.146, {"TR": "distinctive"}, {"TR": 0.2}),
    (2, A, 0.6, {"TR": "invariant"}, {"TR": 0.95}),
]
# number, config, the trial it duplicates, params
DUPLICATES = [(3, A, 0, {"TR": "invariant"}), (4, B_AGAIN, 1, {"TR": "distinctive"}), (5, A, 2, {"TR": "invariant"})]


def _study(client, url: str, name: str, duplicates: bool) -> int:
    study_id = client.post("/studies", json=tiny_spec(name, n_trials=10)).json()["id"]
    _, recorder = claim_for(url)
    for number, config, score, params, invariance in TRAINED:
        record(recorder, number, "complete", score, (5, 10), params=params, config=config, invariance=invariance)
    if duplicates:
        for number, config, original, params in DUPLICATES:
            score = next(s for n, _, s, _, _ in TRAINED if n == original)
            settings = B.settings_record() if config == B_AGAIN else None
            record(
                recorder, number, "duplicate", score, params=params, config=config, settings=settings,
                duplicate_of=original,
            )  # fmt: skip
    return study_id


def _table(client, study_id: int) -> list[dict]:
    rows = client.get(f"/dashboard/data/studies/{study_id}/table1").json()["rows"]
    keep = ("config", "n", "n_scored", "score", "std", "best", "metrics", "factors")
    return [{k: r[k] for k in keep} for r in rows]


def test_duplicates_change_no_aggregate_of_the_dashboard(live, client, database_url):
    plain = _study(client, database_url, "without-duplicates", duplicates=False)
    with_duplicates = _study(client, database_url, "with-duplicates", duplicates=True)

    table = _table(client, with_duplicates)
    assert table == _table(client, plain)
    b = next(r for r in table if r["config"] == B.describe())
    assert b["n"] == 1 and b["n_scored"] == 1 and b["std"] is None  # one training: no "0.146 ± 0.000"
    a = next(r for r in table if r["config"] == A.describe())
    assert a["n"] == 2 and a["score"] == pytest.approx(0.5)  # not (0.4 + 0.6 + 0.4 + 0.6) / 4 over copies
    rows = client.get(f"/dashboard/data/studies/{with_duplicates}/table1").json()["rows"]
    assert len(rows) == 2  # the differently written duplicate sits in its original's row ...
    duplicates = {r["config"]: r["duplicates"] for r in rows}
    assert duplicates == {A.describe(): 2, B.describe(): 1}  # ... visible, not counted
    listed = {t["number"]: t for t in client.get(f"/studies/{with_duplicates}/trials").json()["items"]}
    assert listed[3]["settings"] == A.settings_record() and listed[4]["settings"] == B.settings_record()

    base, other = (client.get(f"/dashboard/data/studies/{s}/overview").json() for s in (plain, with_duplicates))
    for panel in ("history", "factor_effects", "invariance"):
        if panel == "history":  # the axis runs to the last trial number, duplicates included
            assert other[panel].pop("last_number") == 5 and base[panel].pop("last_number") == 2
        assert other[panel] == base[panel], panel
    assert other["history"]["total"] == 3 and other["counts"]["duplicate"] == 3
    effects = {c["choice"]: c["n"] for c in other["factor_effects"][0]["choices"]}
    assert effects == {"i": 2, "d": 1}
    parallel = [client.get(f"/dashboard/data/studies/{s}/parallel").json() for s in (plain, with_duplicates)]
    assert parallel[0] == parallel[1] and parallel[1]["total"] == 3


def test_exports_mark_duplicates_and_give_them_no_score_of_their_own(live, client, database_url):
    study_id = _study(client, database_url, "exported", duplicates=True)

    rows = list(csv.DictReader(io.StringIO(client.get(f"/studies/{study_id}/export", params={"format": "csv"}).text)))
    assert [r["number"] for r in rows] == [str(n) for n in range(6)]
    trained, duplicates = rows[:3], rows[3:]
    assert [r["duplicate_of"] for r in duplicates] == ["0", "1", "2"]
    assert all(r["state"] == "duplicate" and r["score"] == "" and r["score.r_at_1"] == "" for r in duplicates)
    assert [float(r["reused_score"]) for r in duplicates] == [0.4, 0.146, 0.6]
    assert all(r["duplicate_of"] == r["reused_score"] == "" and r["score"] for r in trained)
    # Averaging the export's score column gives the measurements' mean, not one weighted by copies.
    scores = [float(r["score"]) for r in rows if r["score"]]
    assert scores == [0.4, 0.146, 0.6]

    exported = client.get(f"/studies/{study_id}/export", params={"format": "json"}).json()["trials"]
    for trial in exported[3:]:
        assert trial["state"] == "duplicate" and trial["duplicate_of"] is not None
        assert trial["score"] is None and trial["values"] is None and trial["scores"] == {}
    assert [t["reused_values"] for t in exported[3:]] == [[0.4], [0.146], [0.6]]
    assert exported[0]["score"] == 0.4 and exported[0]["reused_values"] is None

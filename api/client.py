"""A Python client for the gdt-search service, for notebooks: launch a study, follow it, get a DataFrame.

from api.client import Client
client = Client("http://127.0.0.1:8000")
study = client.create_study("examples/study.yaml")
client.wait(study, progress=True)
df = client.trials(study)
client.best(study)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from api.models import FINISHED_STUDY
from core.errors import GDTSearchError
from search import spec_source
from search.spec_source import SpecFileError

TERMINAL = set(FINISHED_STUDY)  # a study in one of these statuses is done (api.models)


class APIError(GDTSearchError, RuntimeError):
    """The service refused a request; `detail` is its message (for 422: a list of field problems)."""

    def __init__(self, status: int, detail: Any):
        self.status, self.detail = status, detail
        if isinstance(detail, list):  # 422: name each field
            text = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
        else:
            text = str(detail)
        super().__init__(f"HTTP {status}: {text}")


def read_spec_file(path: str | Path) -> dict:
    """The spec in a YAML or JSON file, read as `gdt-search run` reads it (search.spec_source: a syntax error or a
    key given twice names the file and line), and refused naming its field when it holds a value JSON cannot
    carry (SpecFileError)."""
    spec, lines = spec_source.read_spec_file(path)
    # `gdt-search run` reads a YAML date as a date and refuses it ("notes: Input should be a valid string");
    # sent as its ISO text, the service would queue what the command line refuses.
    found = _not_json(spec, "")
    if found:
        field, value = found
        line = spec_source.line_of(lines, field)
        what = "a date" if isinstance(value, date) else "binary data" if isinstance(value, bytes) else "a set"
        raise SpecFileError(
            f"{path}{f' line {line}' if line else ''}: {field}: YAML reads {value} as {what}, which no spec field"
            " takes; quote it to give it as text"
        )
    return spec


def _not_json(value: Any, field: str, seen: set[int] | None = None) -> tuple[str, Any] | None:
    """The first (dotted field, value) under `value` that JSON cannot carry: what YAML reads as a date (or
    datetime), binary data or a set."""
    if isinstance(value, date | bytes | set):
        return field or "(the document)", value
    if not isinstance(value, dict | list):
        return None
    seen = set() if seen is None else seen
    if id(value) in seen:  # a YAML alias of a list or mapping already walked (a recursive one included)
        return None
    seen.add(id(value))
    if isinstance(value, dict):
        items = [(f"{field}.{k}" if field else str(k), v) for k, v in value.items()]
        items += [(f"{field}.{k}" if field else str(k), k) for k in value]  # a date as a key
    else:
        items = [(f"{field}.{i}" if field else str(i), v) for i, v in enumerate(value)]
    for name, item in items:
        found = _not_json(item, name, seen)
        if found:
            return found
    return None


@dataclass
class Importance:
    """Parameter importances as the server computed them: the mean and sd over forest seeds per parameter,
    how many trained configurations they rest on, and the server's note (why there are none, or what was
    sampled) -- empty `importances` below `minimum` trained configurations."""

    importances: dict[str, float]
    sd: dict[str, float]
    trained: int
    trials: int
    minimum: int
    seeds: int
    note: str | None

    def __getitem__(self, name: str) -> float:
        return self.importances[name]

    def __bool__(self) -> bool:
        return bool(self.importances)

    def frame(self):
        """A pandas DataFrame indexed by parameter: mean, sd (largest first); the note in `.attrs["note"]`."""
        import pandas as pd

        df = pd.DataFrame(
            {"mean": self.importances, "sd": self.sd}, index=list(self.importances), columns=["mean", "sd"]
        )
        df.attrs.update(note=self.note, trained=self.trained, minimum=self.minimum)
        return df


@dataclass
class Effect:
    """`choice` - `reference` for `factor`: the mean paired difference with its 95 % interval (`mean`, `low`,
    `high` are None below 2 matched pairs; `note` says why), over `pairs` pairs of `min_seeds`..`max_seeds`."""

    factor: str
    choice: str
    reference: str
    pairs: int
    min_seeds: int
    max_seeds: int
    mean: float | None
    low: float | None
    high: float | None
    sd: float | None
    note: str | None
    text: str


@dataclass
class Effects:
    """Per-factor effects as the server computed them (search.effects: `gdt-search run`'s numbers)."""

    effects: list[Effect]
    configurations: int
    note: str | None

    def __iter__(self) -> Iterator[Effect]:
        return iter(self.effects)

    def __len__(self) -> int:
        return len(self.effects)

    def frame(self):
        """A pandas DataFrame, one row per (factor, choice, reference): mean, low, high, pairs, seeds."""
        import pandas as pd

        columns = ["factor", "choice", "reference", "mean", "low", "high", "pairs", "min_seeds", "max_seeds", "note"]
        return pd.DataFrame([{c: getattr(e, c) for c in columns} for e in self.effects], columns=columns)


class Client:
    """The service's HTTP API from Python. With a server at `url` (`gdt-search serve`; `gdt-search worker` trains
    its studies' trials):

        >>> from api.client import Client
        >>> client = Client(url)
        >>> study = client.create_study({"name": "tour", "factors": {"TR": {"choices": ["invariant", "off"]}}})
        >>> client.study(study)["status"]  # no worker has claimed it yet
        'queued'
        >>> client.cancel(study)["status"]
        'cancelled'
        >>> client.close()
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", token: str | None = None, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise APIError(response.status_code, detail)
        return response

    # -- studies -------------------------------------------------------------------------------------

    def create_study(self, spec: dict | str | Path) -> int:
        """Queue a study from a spec dict or a YAML/JSON file; returns its id. A file that is not valid YAML /
        JSON, or holds a value JSON cannot carry, is SpecFileError naming the file, line and field."""
        if not isinstance(spec, dict):
            spec = read_spec_file(spec)
        return int(self._call("POST", "/studies", json=spec).json()["id"])

    def study(self, study_id: int) -> dict:
        """Spec, status, progress and the best trial so far."""
        return self._call("GET", f"/studies/{study_id}").json()

    def studies(self, status: str | None = None) -> list[dict]:
        return list(self._pages("/studies", {"status": status} if status else {}))

    def cancel(self, study_id: int) -> dict:
        return self._call("POST", f"/studies/{study_id}/cancel").json()

    def importance(self, study_id: int) -> Importance:
        """The server's parameter importances (search.importance: the dashboard's and `gdt-search run`'s numbers),
        note included: `.importances` (mean), `.sd`, `.trained`, `.minimum`, `.note` (e.g. "not enough trained
        configurations (3 of 8) ..."); `.frame()` is a DataFrame of mean and sd; `result["TR"]` is TR's mean."""
        body = self._call("GET", f"/studies/{study_id}/importance").json()
        fields = ("importances", "sd", "trained", "trials", "minimum", "seeds", "note")
        return Importance(**{k: body[k] for k in fields})

    def effects(self, study_id: int) -> Effects:
        """Per-factor effects with 95 % intervals (search.effects): e.g. `[e.text for e in client.effects(s)]` ->
        ["TR distinctive - invariant: +0.060 [+0.030, +0.090], paired over 12 configurations x 3 seeds", ...]."""
        body = self._call("GET", f"/studies/{study_id}/effects").json()
        return Effects([Effect(**e) for e in body["effects"]], body["configurations"], body["note"])

    def best_set(self, study_id: int) -> dict:
        """The best configuration by mean over seeds and those statistically indistinguishable from it (Welch
        t-test p > alpha), or the note why no set can be computed (1 seed); the chance level beside it."""
        return self.study(study_id)["best_set"]

    # -- following a study ---------------------------------------------------------------------------

    def stream(self, study_id: int, poll_s: float = 2.0, timeout_s: float | None = None) -> Iterator[dict]:
        """Yield each trial once it has finished (any final state), until the study ends."""
        for kind, item in self._follow(study_id, poll_s, timeout_s):
            if kind == "finished":
                yield item

    def _follow(self, study_id: int, poll_s: float, timeout_s: float | None) -> Iterator[tuple[str, dict]]:
        """Per poll: ("running", trial) for each running trial, ("finished", trial) once per finished one, then
        ("study", study) when a trial finished or the study ended; until the study ends."""
        seen: set[int] = set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            study = self.study(study_id)  # read before the trials: nothing is missed at the end
            new = False
            for trial in self._pages(f"/studies/{study_id}/trials", {"sort": "number"}):
                if trial["state"] == "running":
                    yield "running", trial
                elif trial["number"] not in seen:
                    seen.add(trial["number"])
                    new = True
                    yield "finished", trial
            if new or study["status"] in TERMINAL:
                yield "study", study
            if study["status"] in TERMINAL:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"study {study_id} still {study['status']} after {timeout_s} s")
            time.sleep(poll_s)

    def wait(
        self,
        study_id: int,
        poll_s: float = 2.0,
        timeout_s: float | None = None,
        progress: bool | Callable[[dict], None] = False,
    ) -> dict:
        """Block until the study ends; `progress=True` prints each finished trial, the running trials' training
        progress when it moves (step / total, loss, latest intermediate score), and how many configurations are
        trained against the budget ("trained 12 of 20 (5 duplicates, 3 infeasible skipped)"); a callable gets
        each finished trial. Returns the study."""
        report = progress if callable(progress) else (_print_trial if progress else None)
        shown: dict[int, tuple] = {}  # trial number -> the progress last printed
        tally = None
        bar = _TrainedBar() if progress is True else None  # trained configurations against the budget (stderr)
        try:
            for kind, item in self._follow(study_id, poll_s, timeout_s):
                if kind == "finished" and report:
                    report(item)
                elif kind == "running" and bar is not None and item.get("progress"):
                    moved = (item["progress"]["seed"], item["progress"]["step"])
                    if shown.get(item["number"]) != moved:
                        shown[item["number"]] = moved
                        print(f"trial {item['number']:3d} running    {item['progress']['text']}  {item['config']}")
                        bar.running(item)
                elif kind == "study" and bar is not None:
                    bar.update(item)
                    if item["progress"]["text"] != tally:
                        tally = item["progress"]["text"]
                        print(f"  {tally}")
        finally:
            if bar is not None:
                bar.close()
        return self.study(study_id)

    # -- results -------------------------------------------------------------------------------------

    def trials(self, study_id: int, state: str | None = None):
        """Every trial as a pandas DataFrame: one row per trial; params, scores and invariances as columns."""
        import pandas as pd

        rows = []
        for t in self._pages(f"/studies/{study_id}/trials", {"state": state} if state else {}):
            # duplicate_of: a duplicate reused that trial's result; it is no measurement (never average it in)
            fixed = ("number", "state", "config", "score", "n_seeds", "ci_low", "ci_high", "cost", "duration_s",
                     "reason", "duplicate_of")  # fmt: skip
            row = {k: t[k] for k in fixed}
            row |= {f"param_{k}": v for k, v in t["params"].items()}
            row |= {f"score_{k}": v for k, v in t["scores"].items() if not isinstance(v, dict | list)}
            row |= {f"invariance_{k}": v for k, v in t["invariance"].items()}
            row["intermediate"] = [(i["step"], i["value"]) for i in t["intermediate"]]
            rows.append(row)
        return pd.DataFrame(rows)

    def best(self, study_id: int) -> dict | None:
        """The best completed trial so far (config, params, scores), or None."""
        return self.study(study_id)["best"]

    def _pages(self, path: str, params: dict, page: int = 500) -> Iterator[dict]:
        offset = 0
        while True:
            body = self._call("GET", path, params={**params, "limit": page, "offset": offset}).json()
            yield from body["items"]
            offset += len(body["items"])
            if not body["items"] or offset >= body["total"]:
                return


class _TrainedBar:
    """A tqdm bar of trained configurations out of the study's budget (the whole space or a time budget: no
    total), its postfix the latest running trial's training progress. On stderr, beside the printed lines."""

    def __init__(self):
        from tqdm import tqdm

        self.bar = tqdm(unit="trained", file=sys.stderr, dynamic_ncols=True)

    def update(self, study: dict) -> None:
        p = study["progress"]
        self.bar.set_description(study["name"])
        if p.get("n_trials") and self.bar.total != p["n_trials"]:
            self.bar.total = p["n_trials"]
        self.bar.n = p.get("trained", 0)
        self.bar.refresh()

    def running(self, trial: dict) -> None:
        self.bar.set_postfix_str(f"#{trial['number']} {trial['progress']['text']}")

    def close(self) -> None:
        self.bar.close()


def _print_trial(trial: dict) -> None:
    score = trial.get("interval") or ("-" if trial["score"] is None else f"{trial['score']:.3f}")  # with its seeds
    reason = f"  ({trial['reason']})" if trial.get("reason") else ""
    print(f"trial {trial['number']:3d} {trial['state']:<10} {score:>6}  {trial['config']}{reason}")

"""The conditional search space of a study: suggesting, checking, enumerating and deduplicating configurations.

Parameters (Optuna names): one categorical per searched factor (its choice); `K_<factor>` only when
that choice samples the factor (not 'off') and the spec gives K_m a range; `clip_budget` when the
spec lists several; `intra_video` / `intra_audio` only when MOD is used and the spec searches them;
one per searched hyper-parameter. Every proposal becomes a `Candidate`: its GDTConfig, or the reason
it cannot be trained (lemmas 6-7, K_i, clips that do not fit the data) -- such candidates are never
trained. Two candidates with the same `key` train the same thing (same sampled factors and K, same
positive/negative masks, same hyper-parameters), which is how a study trains each configuration once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from core.gdt.config import GDTConfig, InvalidConfiguration, ModalityPairs, describe_settings
from core.gdt.factors import CATALOGUE, Choice
from core.gdt.validity import validate
from search.spec import HYPERPARAMETERS, Choices, Range, StudySpec

OFF = Choice.OFF.value


class Suggester(Protocol):
    """The part of `optuna.Trial` the space needs (Ray's OptunaSearch passes a wrapper of it)."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int) -> int: ...
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...


@dataclass(frozen=True)
class DataLimits:
    """What the pretraining data allow: K_i <= videos, and clips at the fastest sampled speed must fit."""

    num_videos: int
    shortest_seconds: float
    clip_seconds: float

    def check(self, config: GDTConfig) -> None:
        if config.k_videos > self.num_videos:
            raise InvalidConfiguration(
                f"DS: K_i = {config.k_videos} videos per batch but the pretraining data have only"
                f" {self.num_videos} (lower clip_budget or add videos)",
                ("DS",),
            )
        sp = config.setting("SP")
        speeds = CATALOGUE["SP"].categories
        fastest = speeds[CATALOGUE["SP"].off_value or 0] if sp.k == 1 else max(speeds)
        needed = self.clip_seconds * fastest
        if needed > self.shortest_seconds + 1e-9:
            raise InvalidConfiguration(
                f"SP: with K_SP = {sp.k} a batch may hold {fastest:g}x clips, which need {needed:.2f} s of video;"
                f" the shortest pretraining video has {self.shortest_seconds:.2f} s (use longer videos, fewer"
                " clip frames, or SP off)",
                ("SP",),
            )


def data_limits(spec: StudySpec) -> DataLimits:
    """Limits of the study's pretraining data (opens, and on first use builds, its clip cache)."""
    from core.trial import open_data

    data = spec.data_spec()
    clips, _ = open_data(data)
    shortest = min(clips.duration(i) for i in range(clips.num_videos))
    return DataLimits(clips.num_videos, shortest, data.clip_frames / clips.fps)


@dataclass(frozen=True)
class Candidate:
    """One proposal: its parameters, and either a trainable configuration or why it is not one."""

    params: dict[str, Any]
    settings: dict[str, tuple[str, int]]  # factor -> (choice, K_m), searched factors only
    clip_budget: int
    modality_pairs: ModalityPairs
    hyper: dict[str, float]  # every hyper-parameter, temperature included
    config: GDTConfig | None = None
    infeasible: str | None = None  # why it is never trained
    blamed: tuple[str, ...] = ()
    key: str | None = None

    @property
    def feasible(self) -> bool:
        return self.config is not None

    def settings_record(self) -> dict[str, dict]:
        """What a trial records of its configuration: the config's `settings_record()` (every factor, DS first);
        an infeasible candidate has no config, so its searched factors' choice and K_m (no DS)."""
        if self.config is not None:
            return self.config.settings_record()
        return {name: {"choice": str(choice), "k": int(k)} for name, (choice, k) in self.settings.items()}

    def describe(self) -> str:
        if self.config is not None:
            return self.config.describe()
        return describe_settings(self.settings_record()) + f" budget={self.clip_budget}"

    def train_hyper(self) -> dict[str, float]:
        return {k: v for k, v in self.hyper.items() if k != "temperature"}


def equivalence_key(config: GDTConfig, hyper: Mapping[str, float]) -> str:
    """Equal for configurations that train identically: same factors sampled with the same K (in the same
    order, K_i included), the same positive/negative masks, and the same hyper-parameters.

    Choices only reach the loss through the masks, so e.g. the modality-pair switches of a video-only
    configuration, or two clip budgets that give the same K_i, do not make a different configuration.
    """
    structure = validate(config)
    payload = {
        "factors": [[n, k] for n, k in zip(config.factor_names, config.ks, strict=True)],
        "positive": _mask_digest(structure.positive),
        "negative": _mask_digest(structure.negative),
        "hyper": {k: float(repr_round(v)) for k, v in sorted(hyper.items())},
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def repr_round(value: float) -> float:
    """Round to 10 significant digits so that 0.1 + 0.2 and 0.3 are one hyper-parameter value."""
    return float(f"{value:.10g}")


def _mask_digest(mask) -> str:
    return hashlib.sha1(np.packbits(mask.cpu().numpy().astype(bool)).tobytes()).hexdigest()


@dataclass
class SearchSpace:
    """The study's space; `limits` (optional) adds the data-dependent feasibility checks.

    Two factors with two choices each: four candidates, of which all-off is infeasible (no positive pairs):

        >>> from search.space import SearchSpace
        >>> from search.spec import load_spec
        >>> factors = {"TR": {"choices": ["invariant", "off"]}, "MOD": {"choices": ["invariant", "off"]}}
        >>> space = SearchSpace(load_spec({"factors": factors}))
        >>> [c.config.describe() for c in space.unique_feasible()]  # doctest: +NORMALIZE_WHITESPACE
        ['DS=d(16) TS=off MOD=i(2) TR=i(2) SP=off AUG=off', 'DS=d(32) TS=off MOD=i(2) TR=off SP=off AUG=off',
         'DS=d(32) TS=off MOD=off TR=i(2) SP=off AUG=off']
        >>> [c.infeasible.split(":")[0] for c in space.enumerate() if not c.feasible]
        ['no positives']
    """

    spec: StudySpec
    limits: DataLimits | None = None
    _keys: dict = field(default_factory=dict, repr=False)

    # -- the dimensions ----------------------------------------------------------------------------

    @property
    def factors(self) -> list[str]:
        order = self.spec.order or list(CATALOGUE)
        return [n for n in order if n in self.spec.factors]

    def _k_range(self, name: str) -> list[int]:
        return self.spec.factors[name].k_values

    def _pairs_options(self, switch: str) -> list[bool]:
        value = getattr(self.spec.modality_pairs, switch)
        return list(dict.fromkeys(value)) if isinstance(value, list) else [value]

    def _hyper_options(self, name: str) -> list[float] | None:
        """The finite values of a hyper-parameter, or None for a continuous range."""
        value = self.spec.hyper(name)
        if isinstance(value, Choices):
            return list(dict.fromkeys(value.choices))
        if isinstance(value, Range):
            return value.values()
        return [float(value)]

    @property
    def searched_hyper(self) -> list[str]:
        return [n for n in HYPERPARAMETERS if n in self.spec.hyperparameters and self._searched(n)]

    def _searched(self, name: str) -> bool:
        options = self._hyper_options(name)
        return options is None or len(options) > 1

    @property
    def is_finite(self) -> bool:
        return all(self._hyper_options(n) is not None for n in HYPERPARAMETERS)

    # -- proposals ---------------------------------------------------------------------------------

    def suggest(self, trial: Suggester) -> Candidate:
        """Define-by-run: sample the conditional space on `trial` and check the result."""
        params: dict[str, Any] = {}

        def categorical(name: str, options: list) -> Any:
            if len(options) == 1:
                return options[0]
            params[name] = trial.suggest_categorical(name, options)
            return params[name]

        settings: dict[str, tuple[str, int]] = {}
        for name in self.factors:
            choice = categorical(name, [c.value for c in self.spec.factors[name].choices])
            k = 1
            if choice != OFF:
                ks = self._k_range(name)
                k = ks[0]
                if len(ks) > 1:
                    k = params[f"K_{name}"] = trial.suggest_int(f"K_{name}", ks[0], ks[-1])
            settings[name] = (choice, k)
        budget = categorical("clip_budget", self.spec.clip_budgets)
        pairs = {"intra_video": False, "intra_audio": False}
        if settings.get("MOD", (OFF, 1))[0] != OFF:
            for switch in pairs:
                pairs[switch] = categorical(switch, self._pairs_options(switch))
        hyper: dict[str, float] = {}
        for name in HYPERPARAMETERS:
            value = self.spec.hyper(name)
            options = self._hyper_options(name)
            if isinstance(value, Range) and options is None:
                hyper[name] = params[name] = trial.suggest_float(name, value.low, value.high, log=value.log)
            elif isinstance(value, Range) and len(options or []) > 1:
                hyper[name] = params[name] = trial.suggest_float(name, value.low, value.high, step=value.step)
            else:
                hyper[name] = float(categorical(name, options))
        return self._candidate(params, settings, budget, pairs, hyper)

    def from_params(self, params: Mapping[str, Any]) -> Candidate:
        """The candidate a set of parameters (e.g. a finished trial's) stands for."""
        return self.suggest(_Replay(params))

    def _candidate(self, params, settings, budget, pairs, hyper) -> Candidate:
        modality_pairs = ModalityPairs(self.spec.modality_pairs.cross_modal, pairs["intra_video"], pairs["intra_audio"])
        common = dict(params=params, settings=settings, clip_budget=budget, modality_pairs=modality_pairs, hyper=hyper)
        try:
            config = GDTConfig.build(
                {n: (c, k) for n, (c, k) in settings.items()},
                clip_budget=budget,
                temperature=hyper["temperature"],
                modality_pairs=modality_pairs,
                order=tuple(self.spec.order) if self.spec.order else None,
                budget_counts=self.spec.clip_budget_counts,
            )
            key = equivalence_key(config, hyper)
            if self.limits is not None:
                self.limits.check(config)
        except InvalidConfiguration as error:
            return Candidate(**common, infeasible=str(error), blamed=error.factors)
        return Candidate(**common, config=config, key=key)

    # -- the finite space --------------------------------------------------------------------------

    def enumerate(self) -> Iterator[Candidate]:
        """Every distinct parameter set of the (finite) space, feasible or not, in a fixed order.

        Raises ValueError naming the hyper-parameter when a range is continuous.
        """
        continuous = [n for n in HYPERPARAMETERS if self._hyper_options(n) is None]
        if continuous:
            raise ValueError(
                f"hyperparameters.{continuous[0]}: a continuous range cannot be enumerated (give a step or choices)"
            )
        per_factor = []
        for name in self.factors:
            options = []
            for choice in (c.value for c in self.spec.factors[name].choices):
                options += [(choice, 1)] if choice == OFF else [(choice, k) for k in self._k_range(name)]
            per_factor.append(options)
        hyper_options = [self._hyper_options(n) or [] for n in HYPERPARAMETERS]
        for combo in itertools.product(*per_factor, self.spec.clip_budgets, *hyper_options):
            settings = dict(zip(self.factors, combo[: len(self.factors)], strict=True))
            budget = combo[len(self.factors)]
            hyper = dict(zip(HYPERPARAMETERS, combo[len(self.factors) + 1 :], strict=True))
            mod_used = settings.get("MOD", (OFF, 1))[0] != OFF
            video_opts = self._pairs_options("intra_video") if mod_used else [False]
            audio_opts = self._pairs_options("intra_audio") if mod_used else [False]
            for intra_video, intra_audio in itertools.product(video_opts, audio_opts):
                params = self._params_of(settings, budget, intra_video, intra_audio, hyper, mod_used)
                pairs = {"intra_video": intra_video, "intra_audio": intra_audio}
                yield self._candidate(params, settings, budget, pairs, hyper)

    def _params_of(self, settings, budget, intra_video, intra_audio, hyper, mod_used) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, (choice, k) in settings.items():
            if len(self.spec.factors[name].choices) > 1:
                params[name] = choice
            if choice != OFF and len(self._k_range(name)) > 1:
                params[f"K_{name}"] = k
        if len(self.spec.clip_budgets) > 1:
            params["clip_budget"] = budget
        if mod_used:
            for switch, value in (("intra_video", intra_video), ("intra_audio", intra_audio)):
                if len(self._pairs_options(switch)) > 1:
                    params[switch] = value
        for name, value in hyper.items():
            if len(self._hyper_options(name) or []) > 1:
                params[name] = value
        return params

    def unique_feasible(self) -> list[Candidate]:
        """The feasible configurations of the finite space, one per equivalence class (first in order)."""
        seen: dict[str, Candidate] = {}
        for candidate in self.enumerate():
            if candidate.feasible and candidate.key not in seen:
                seen[candidate.key] = candidate
        return list(seen.values())


class _Replay:
    """A Suggester that answers from recorded parameters (a finished trial, an enqueued grid point)."""

    def __init__(self, params: Mapping[str, Any]):
        self.params = dict(params)

    def _get(self, name: str) -> Any:
        if name not in self.params:
            raise KeyError(f"parameter {name!r} is missing from {self.params}")
        return self.params[name]

    def suggest_categorical(self, name, choices):
        return self._get(name)

    def suggest_int(self, name, low, high):
        return int(self._get(name))

    def suggest_float(self, name, low, high, *, step=None, log=False):
        return float(self._get(name))

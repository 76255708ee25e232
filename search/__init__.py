"""Search spaces, the trial objective, Optuna and Ray Tune backends.

    spec.py            StudySpec (YAML/JSON, pydantic): factors, budgets, data, objective, backend; load_spec
    spec_source.py     a spec file's text as data: a key given twice is an error; each field's line for messages
    study_presets.py   study presets: GDT Table 1 space ("table1"), the extended catalogue ("extended")
    space.py           the conditional space: suggest / enumerate / feasibility / equivalence keys
    objective.py       spec + configuration -> pretrain -> proxy -> score (train_candidate, OptunaObjective)
    recorder.py        the Recorder interface (+ JSON-lines, console, fan-out implementations)
    states.py          a trial's states, defined once (the recorder, the service's table and the API use them)
    storage.py         Optuna's RDB storage, built in one place (open_storage: SQLite in WAL mode)
    optuna_backend.py  samplers, pruners, RDB storage with heartbeat, worker processes (run_optuna)
    ray_backend.py     Tuner + OptunaSearch + ASHA, resources per trial, restore (run_ray)
    runner.py          run_study on either backend; summarize / results_table / report
    importance.py      parameter importance (fANOVA, mean ± sd over seeds, trained configurations only): the one
                       computation behind the CLI report, the API, the client and the dashboard
    intervals.py       a mean of replicates with its 95 % t-interval ("1 seed, no interval"), Welch's test
    measurements.py    the trained configurations, one per (configuration, hyper-parameters), with seeds' scores
    effects.py         per-factor paired effects with 95 % intervals over matched configuration pairs
    best.py            the best configuration and those statistically indistinguishable from it; chance level

Imports core/ only; the service (api/) plugs in its own Recorder.
"""

"""Search spaces, the trial objective, Optuna and Ray Tune backends."""

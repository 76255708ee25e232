"""Each trial's configuration as data (`settings`: factor -> {"choice", "k"}, the notation's order), recorded beside
its notation (`config`) so that readers never parse the notation back; existing rows are backfilled from `config`.

The backfill reads the notation with its own small parser, written here: a migration is a frozen snapshot and
imports nothing of the project's code, which may change after it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The notation as GDTConfig.describe() and search.space.Candidate.describe() wrote it up to this revision:
# 'DS=d(8) TS=i(2) MOD=off ...', an infeasible candidate's without DS and with ' budget=64' at the end.
FACTORS = ("DS", "TS", "MOD", "TR", "SP", "AUG")
CHOICES = {"i": "invariant", "d": "distinctive", "ignore": "ignore", "off": "off"}
BATCH = 5000


def parse_notation(config: str | None) -> dict | None:
    """{'DS': {'choice': 'distinctive', 'k': 8}, 'TS': {'choice': 'invariant', 'k': 2}, ...}; None when no word is a
    factor's cell (nothing to backfill). Words that are not a factor (' budget=64') are skipped."""
    settings = {}
    for word in (config or "").split():
        name, _, cell = word.partition("=")
        letter, _, k = cell.partition("(")
        if name not in FACTORS or letter not in CHOICES:
            continue
        try:
            settings[name] = {"choice": CHOICES[letter], "k": int(k.rstrip(")")) if k else 1}
        except ValueError:
            continue
    return settings or None


def upgrade() -> None:
    op.add_column("gdt_trials", sa.Column("settings", sa.JSON(), nullable=True))
    trials = sa.table(
        "gdt_trials", sa.column("id", sa.Integer), sa.column("config", sa.Text), sa.column("settings", sa.JSON)
    )
    connection = op.get_bind()
    parsed: dict[str, dict | None] = {}  # configurations repeat: parse each notation once
    update = trials.update().where(trials.c.id == sa.bindparam("trial_id")).values(settings=sa.bindparam("parsed"))
    rows = connection.execute(sa.select(trials.c.id, trials.c.config).order_by(trials.c.id)).all()
    for start in range(0, len(rows), BATCH):  # by primary key: `config` has no index
        batch = []
        for trial_id, config in rows[start : start + BATCH]:
            if config not in parsed:
                parsed[config] = parse_notation(config)
            if parsed[config] is not None:
                batch.append({"trial_id": trial_id, "parsed": parsed[config]})
        if batch:
            connection.execute(update, batch)


def downgrade() -> None:
    with op.batch_alter_table("gdt_trials") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("settings")

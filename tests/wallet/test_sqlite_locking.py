"""The embedded default (SQLite): atomic() takes the write lock at BEGIN (IMMEDIATE), so two
requests moving money queue behind each other instead of one failing with "database is
locked". Runs on its own database file (a copy of the run's migrated one) in a subprocess (an
in-memory test database has no second connection to race with), so it runs whichever database
the suite itself uses."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("sqlite_race.py")


def race(tmp_path: Path, migrated: Path, mode: str) -> dict:
    db = tmp_path / f"race-{mode}.sqlite3"
    shutil.copyfile(migrated, db)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(db), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_immediate_transactions_serialise_money_operations(tmp_path, migrated_sqlite_file):
    result = race(tmp_path, migrated_sqlite_file, "IMMEDIATE")
    assert result["errors"] == []
    assert result["balance"] == 800  # both spends of 100 went through
    assert result["elapsed"] >= 0.75  # one after the other, each holding the lock ~0.4 s


def test_deferred_transactions_would_fail_with_database_is_locked(tmp_path, migrated_sqlite_file):
    # The control: without IMMEDIATE the same two requests do not both succeed.
    result = race(tmp_path, migrated_sqlite_file, "DEFERRED")
    assert any("database is locked" in e for e in result["errors"]), result
    assert result["balance"] == 900

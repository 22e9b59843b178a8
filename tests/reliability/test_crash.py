"""CI run of the crash-consistency driver (crash.py): 20 rounds of SIGKILL
of rblzoned and an importer while they write, each restart checked; and
proof that its checks catch a lost acknowledged change or import.

ctest runs this in every build (RBLZONE_BIN_DIR); RBLZONE_CRASH_ROUNDS
changes the round count. The long mode is `crash.py --rounds 500`.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crash  # noqa: E402

ROUNDS = int(os.environ.get("RBLZONE_CRASH_ROUNDS", "20"))  # ctest: 5 in ASan/TSan builds


def test_acknowledged_changes_survive_sigkill(tmp_path):
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")  # shown by pytest on failure: rerun with crash.py --seed
    stats = crash.Run(tmp_path, seed).run(ROUNDS)
    assert stats["rounds"] == ROUNDS
    # The rounds did write: acknowledged changes and imported lines were checked.
    assert stats["api_acked"] > ROUNDS and stats["api_checked"] > ROUNDS
    assert stats["trap_lines_checked"] > 0 and stats["journal_entries"] > 0


def lost_after_one_round(tmp_path, lose):
    run = crash.Run(tmp_path, 7)
    run.start_daemon()
    run.check()
    crash.Round(run, run.rng).run_writers()
    run.start_daemon()
    try:
        lose(run.model)
        with pytest.raises(crash.Failure) as e:
            run.check()
        return str(e.value)
    finally:
        run.daemon.stop()


def test_a_lost_api_change_is_caught(tmp_path):
    """The model says a PUT was acknowledged that the store never saw, as if
    the daemon had answered 2xx before committing."""
    def lose(m):
        subject = crash.api_subject(1, 3)
        m.api[subject] = [("acknowledged-but-lost", "127.0.0.2")]
        m.touched.add(subject)
    assert "acknowledged history allows only" in lost_after_one_round(tmp_path, lose)


def test_a_lost_import_is_caught(tmp_path):
    """A run exited 0 over more lines than the committed cursor covers."""
    def lose(m):
        m.lines_written += 1
        m.lines_acked = m.lines_written
    assert "runs that exited 0 covered" in lost_after_one_round(tmp_path, lose)

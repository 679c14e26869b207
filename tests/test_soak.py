"""The soak script's short variant: a spoken turn and asked ones with random faults on every service; no crash,
no hang, bounded memory, and the timers file equal to the running timers after every turn."""

import runpy
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_short_soak_with_random_faults():
    sys.path.insert(0, str(SCRIPTS))
    try:
        soak = runpy.run_path(str(SCRIPTS / "soak.py"), run_name="soak")["soak"]
        report = soak(turns=10, seed=29, fault_rate=0.4, spoken=1, warm_turns=1)
    finally:
        sys.path.remove(str(SCRIPTS))
    assert report["crashed"] is False and report["hangs"] == 0, report
    assert report["turns"] == 10 and report["exit_code"] == 0, report
    assert set(report["outcomes"]) <= {"answered", "error"}, report
    assert report["outcomes"].get("answered", 0) >= 6, report
    assert set(report["faults"]) >= {"model", "model ws", "stt ws", "tts ws"}, report  # every service had faults
    assert report["timers_mismatches"] == [], report
    # seed 29 sets timers on turns 3, 5 and 9 (the first with no fault) and cancels none
    assert report["timers_set"] >= 1 and report["timers_running"] >= 1, report
    assert report["rss_growth_mb"] < 20, report

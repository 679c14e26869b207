"""The soak script's short variant: turns with random faults, no crash, no hang, bounded memory."""

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
        report = soak(turns=25, seed=3, fault_rate=0.4)
    finally:
        sys.path.remove(str(SCRIPTS))
    assert report["crashed"] is False and report["hangs"] == 0, report
    assert report["turns"] == 25 and report["exit_code"] == 0, report
    assert set(report["outcomes"]) <= {"answered", "error"}, report
    assert report["outcomes"].get("answered", 0) >= 15, report
    assert report["rss_end_mb"] - report["rss_start_mb"] < 20, report

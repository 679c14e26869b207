"""The held-out wake-word set (standin/wakeset.py) on a deterministic subset: two voices the unit tests
do not use, every condition, near misses and talk, through the front end and the real model at the normal
threshold. The full set is scripts/bench_frontend.py."""

from __future__ import annotations

import pytest

from appliance.config.frontend import FrontEndSettings
from appliance.config.settings import WakeSettings
from appliance.frontend.base import make_frontend
from appliance.frontend.reference import ReferenceBuffer
from appliance.wake.oww import OpenWakeWordDetector
from standin import wakeset

pytestmark = pytest.mark.slow  # the synthesized wake-word set through the real model
SUBSET = wakeset.samples(
    voices=("piper", "espeak:en-gb"), speeds=(1.0,), negatives=("hey travis", "hey marvin", *wakeset.TALK[:2])
)
THRESHOLD = WakeSettings().threshold


@pytest.fixture(scope="module")
def summary() -> dict[str, wakeset.Summary]:
    detector = OpenWakeWordDetector(WakeSettings(refractory_seconds=0.0), seed=0)
    scored = wakeset.score_all(
        SUBSET, detector, frontend=lambda: make_frontend(FrontEndSettings(enabled=True), ReferenceBuffer())
    )
    return {row.condition: row for row in wakeset.summarize(scored, THRESHOLD)}


def test_the_subset_covers_every_condition_with_positives_and_negatives():
    assert {s.condition for s in SUBSET} == set(wakeset.CONDITIONS)
    assert sum(s.positive for s in SUBSET) == 8 and sum(not s.positive for s in SUBSET) == 32
    assert wakeset.render(SUBSET[5]).tobytes() == wakeset.render(SUBSET[5]).tobytes()  # seeded


#: (least found of the 2 positives, most false wakes of the 8 negatives) per condition, as measured. The far
#: field misses the target: one of the two wake words is missed and a near miss wakes it (docs/wake-word.md).
EXPECTED = {"clean": (2, 0), "pink10": (2, 0), "pink5": (2, 0), "far": (1, 1)}


@pytest.mark.parametrize("condition", wakeset.CONDITIONS)
def test_recall_and_false_wakes_per_condition(summary, condition):
    row = summary[condition]
    least_found, most_false = EXPECTED[condition]
    assert row.positives == 2 and row.found >= least_found, f"{condition}: found {row.found} of {row.positives}"
    assert row.false_wakes <= most_false, f"{condition}: {row.false_wakes} false wakes"

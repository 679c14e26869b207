"""Timers: the pure book with both clocks passed in, their words, the state file, and the running service."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from appliance.events import Recorder, TimerChanged
from appliance.timers import store, words
from appliance.timers.schedule import MAX_TIMERS, Timer, TimerBook, TimerError
from appliance.timers.service import TimerService

MONO, WALL = 100.0, 1_700_000_000.0


def test_set_list_and_ring_in_order() -> None:
    book = TimerBook()
    tea = book.set(180, "Tea", MONO, WALL)
    egg = book.set(60, None, MONO, WALL)
    assert tea.label == "tea" and egg.label == ""
    assert [t.id for t in book.running()] == [egg.id, tea.id]  # soonest first
    assert book.next_due() == MONO + 60
    assert book.pop_due(MONO + 59.9) == []
    assert book.pop_due(MONO + 60) == [egg]
    assert book.pop_due(MONO + 500) == [tea]
    assert len(book) == 0 and book.next_due() is None


def test_several_timers_with_the_same_label_get_distinct_names() -> None:
    book = TimerBook()
    assert [book.set(60, "pasta", MONO, WALL).label for _ in range(3)] == ["pasta", "pasta 2", "pasta 3"]
    assert [t.label for t in book.find("pasta 2")] == ["pasta 2"]


def test_find_by_label_in_what_was_said_and_the_only_timer_without_one() -> None:
    book = TimerBook()
    pasta = book.set(600, "pasta", MONO, WALL)
    assert book.find(None) == [pasta]  # the only one
    assert book.find("the pasta one") == [pasta]
    book.set(60, "eggs", MONO, WALL)
    assert book.find(None) == []  # ambiguous
    assert book.find("rice") == []


def test_cancel_by_label_all_and_helpful_errors() -> None:
    book = TimerBook()
    with pytest.raises(TimerError, match="no timers running"):
        book.cancel(None)
    book.set(60, "eggs", MONO, WALL)
    book.set(600, "pasta", MONO, WALL)
    with pytest.raises(TimerError, match="say which one"):
        book.cancel(None)
    with pytest.raises(TimerError, match="no rice timer"):
        book.cancel("rice")
    assert [t.label for t in book.cancel("eggs")] == ["eggs"]
    book.set(30, None, MONO, WALL)
    assert len(book.cancel(None, everything=True)) == 2
    assert len(book) == 0


def test_add_time_moves_both_deadlines_and_refuses_nonsense() -> None:
    book = TimerBook()
    t = book.set(60, "tea", MONO, WALL)
    longer = book.add_time("tea", 30)
    assert (longer.seconds, longer.due, longer.due_wall) == (90, t.due + 30, t.due_wall + 30)
    shorter = book.add_time(None, -60)
    assert shorter.seconds == 30
    with pytest.raises(TimerError, match="no time"):
        book.add_time("tea", -100)
    with pytest.raises(TimerError, match="24 hours"):
        book.add_time("tea", 24 * 3600)


def test_limits() -> None:
    book = TimerBook()
    with pytest.raises(TimerError, match="at least one second"):
        book.set(0, None, MONO, WALL)
    with pytest.raises(TimerError, match="24 hours"):
        book.set(24 * 3600 + 1, None, MONO, WALL)
    for _ in range(MAX_TIMERS):
        book.set(60, None, MONO, WALL)
    with pytest.raises(TimerError, match="cancel one first"):
        book.set(60, None, MONO, WALL)


def test_restart_resumes_with_the_time_left_and_reports_the_missed() -> None:
    book = TimerBook()
    book.set(60, "eggs", MONO, WALL)
    book.set(600, "pasta", MONO, WALL)
    saved = json.loads(json.dumps(book.to_json()))
    # the appliance was down for 2 minutes; the monotonic clock restarted near zero at boot
    restored, missed = TimerBook.from_json(saved, 5.0, WALL + 120)
    assert [t.label for t in missed] == ["eggs"]
    [pasta] = restored.running()
    assert pasta.label == "pasta" and pasta.left(5.0) == pytest.approx(480)
    assert restored.set(10, None, 5.0, WALL + 120).id > pasta.id  # ids never reused


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "x",
        {"timers": "x"},
        {"timers": [{"id": "a"}, {"label": 3}]},
        {"timers": [{"id": 1, "seconds": -5, "due_wall": WALL}]},
        {"timers": [{"id": 1, "seconds": 5, "due_wall": float("nan")}], "next_id": "x"},
    ],
)
def test_a_damaged_state_is_skipped_not_fatal(data: object) -> None:
    book, missed = TimerBook.from_json(data, MONO, WALL)
    assert len(book) == 0 and missed == []


def test_words() -> None:
    assert words.duration(0) == "0 seconds"
    assert words.duration(1) == "1 second"
    assert words.duration(90) == "1 minute and 30 seconds"
    assert words.duration(3725) == "1 hour, 2 minutes and 5 seconds"
    t = Timer(1, "pasta", 600, MONO + 600, WALL + 600)
    assert words.status([], MONO) == "No timers are running."
    assert words.status([t], MONO + 330) == (
        "One timer is running. The pasta timer has 4 minutes and 30 seconds left (set for 10 minutes)."
    )
    assert words.ended(t) == "Your pasta timer is done."
    assert words.ended(Timer(2, "", 60, 0, 0)) == "Your timer is done."
    assert "switched off" in words.ended(t, missed=True)


def test_store_is_atomic_and_tolerant(tmp_path: Path) -> None:
    path = tmp_path / "state" / "timers.json"
    assert store.load(path) is None
    store.save(path, {"a": 1})
    assert store.load(path) == {"a": 1}
    stale = path.parent / ".timers.json.x1.tmp"
    stale.write_text("half")
    path.write_text("{not json")
    assert store.load(path) is None  # damaged: ignored, logged
    assert not stale.exists()  # an interrupted save's temp file is cleaned up
    assert [p.name for p in path.parent.iterdir()] == ["timers.json"]


def test_service_rings_persists_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    recorder = Recorder()
    rang: list[tuple[str, bool]] = []
    done = threading.Event()

    def ring(timer: Timer, missed: bool) -> None:
        rang.append((timer.label, missed))
        done.set()

    service = TimerService(path, ring, recorder)
    assert service.start() == []
    eggs = service.set(1, "eggs")
    service.set(3600, "roast")
    assert [t["label"] for t in json.loads(path.read_text())["timers"]] == ["eggs", "roast"]
    assert done.wait(5.0)
    assert rang == [("eggs", False)]
    recorder.wait_for(lambda e: isinstance(e, TimerChanged) and e.action == "ended")
    service.rang(eggs.id)  # the app started its alert
    assert [t["label"] for t in json.loads(path.read_text())["timers"]] == ["roast"]
    assert service.file_mismatch() == ""
    service.close()

    # a restart: the roast resumes; an extra entry whose deadline passed while down rings once as missed
    data = json.loads(path.read_text())
    data["timers"].append({"id": 99, "label": "tea", "seconds": 60, "due_wall": 1.0})
    path.write_text(json.dumps(data))
    rang.clear()
    again = TimerService(path, ring, recorder)
    assert [t.label for t in again.start()] == ["tea"]
    assert rang == [("tea", True)]
    assert [t.label for t in again.running()] == ["roast"]
    assert 3590 < again.running()[0].left(again.now()) <= 3600
    actions = [(e.action, e.label) for e in recorder.of(TimerChanged)]
    assert ("resumed", "roast") in actions and ("missed", "tea") in actions
    assert sorted(t["label"] for t in json.loads(path.read_text())["timers"]) == ["roast", "tea"]  # until it rings
    again.rang(99)
    assert [t["label"] for t in json.loads(path.read_text())["timers"]] == ["roast"]  # the missed one is gone
    assert again.cancel("roast")[0].label == "roast"
    again.close()


def test_service_without_a_state_directory_keeps_timers_in_memory() -> None:
    service = TimerService(None, lambda t, m: None, Recorder())
    service.start()
    service.set(60, "tea")
    assert [t.label for t in service.running()] == ["tea"]
    service.close()


def _call(registry: object, ctx: object, name: str, arguments: dict[str, object]) -> str:
    from appliance.tools.registry import ToolRegistry

    assert isinstance(registry, ToolRegistry)
    tool, kwargs = registry.bind(name, json.dumps(arguments))
    return str(tool.invoke(ctx, kwargs))  # type: ignore[arg-type]


def test_the_model_sets_lists_extends_and_cancels_timers_through_the_tools() -> None:
    from doubles import Controls

    from appliance.cancel import CancelToken
    from appliance.ports import ToolContext
    from appliance.timers.tools import TIMER_TOOLS
    from appliance.tools.registry import ToolRegistry

    registry = ToolRegistry()
    for function in TIMER_TOOLS:
        registry.register(function)
    specs = {s["name"]: s for s in registry.specs()}
    assert set(specs) == {"set_timer", "list_timers", "cancel_timer", "add_time_to_timer"}
    assert specs["set_timer"]["strict"] is True
    assert set(specs["set_timer"]["parameters"]["required"]) == {"seconds", "label"}

    clock = [MONO]
    service = TimerService(None, lambda t, m: None, Recorder(), clock=lambda: clock[0], wall=lambda: WALL)
    ctx = ToolContext(
        controls=Controls(timers=service), camera=None, indicators=None, cancel=CancelToken(), emit=lambda e: None
    )
    assert _call(registry, ctx, "set_timer", {"seconds": 480, "label": "pasta"}) == (
        "The pasta timer is set for 8 minutes."
    )
    assert _call(registry, ctx, "set_timer", {"seconds": 90, "label": None}) == (
        "The timer is set for 1 minute and 30 seconds."
    )
    clock[0] += 30
    assert _call(registry, ctx, "list_timers", {}) == (
        "2 timers are running. The timer has 1 minute left (set for 1 minute and 30 seconds). "
        "The pasta timer has 7 minutes and 30 seconds left (set for 8 minutes)."
    )
    assert _call(registry, ctx, "add_time_to_timer", {"seconds": 60, "label": "pasta"}) == (
        "The pasta timer now has 8 minutes and 30 seconds left."
    )
    assert _call(registry, ctx, "cancel_timer", {"label": None, "all_timers": False}).startswith(
        "Nothing cancelled: Several timers are running"
    )
    assert _call(registry, ctx, "cancel_timer", {"label": "pasta", "all_timers": False}) == (
        "Cancelled the pasta timer."
    )
    assert _call(registry, ctx, "cancel_timer", {"label": None, "all_timers": True}) == "Cancelled the timer."
    assert _call(registry, ctx, "set_timer", {"seconds": 0, "label": None}) == (
        "Not set: A timer needs at least one second."
    )
    assert _call(registry, ctx, "list_timers", {}) == "No timers are running."


def test_timer_tools_say_so_when_the_appliance_keeps_no_timers() -> None:
    from doubles import Controls

    from appliance.cancel import CancelToken
    from appliance.ports import ToolContext
    from appliance.timers.tools import TIMER_TOOLS
    from appliance.tools.registry import ToolRegistry

    registry = ToolRegistry()
    for function in TIMER_TOOLS:
        registry.register(function)
    ctx = ToolContext(controls=Controls(), camera=None, indicators=None, cancel=CancelToken(), emit=lambda e: None)
    assert _call(registry, ctx, "set_timer", {"seconds": 60, "label": None}) == (
        "Not set: Timers are not available on this device."
    )


# --- issue #31: nothing lost, nothing crashed ----------------------------------------------------------------


def _saved(path: Path) -> list[tuple[int, str, float, float]]:
    if not path.exists():  # nothing was ever saved
        return []
    return sorted((t["id"], t["label"], t["seconds"], t["due_wall"]) for t in json.loads(path.read_text())["timers"])


def _kept(service: TimerService) -> list[tuple[int, str, float, float]]:
    return sorted((t.id, t.label, t.seconds, t.due_wall) for t in service.running())


def test_concurrent_changes_leave_the_file_equal_to_the_running_timers(tmp_path: Path) -> None:
    """Two ``set_timer`` calls of one answer run in parallel: whatever the interleaving, once every change has
    returned the file holds exactly the running timers (an older copy written last lost one)."""
    labels = ["pasta", "eggs", "tea", None]

    def worker(service: TimerService, rng: random.Random, start: threading.Barrier) -> None:
        start.wait(5.0)
        for _ in range(rng.randint(1, 3)):
            what = rng.random()
            try:
                if what < 0.6:
                    service.set(rng.randint(600, 3600), rng.choice(labels))
                elif what < 0.8:
                    service.cancel(rng.choice(labels))
                else:
                    service.add_time(rng.choice(labels), rng.randint(-60, 60))
            except TimerError:
                pass

    for seed in range(15):
        rng = random.Random(seed)
        path = tmp_path / f"{seed}" / "timers.json"
        service = TimerService(path, lambda t, m: None, Recorder())
        service.start()
        try:
            for _ in range(3):
                n = rng.randint(2, 5)
                start = threading.Barrier(n)
                threads = [
                    threading.Thread(target=worker, args=(service, random.Random(rng.random()), start))
                    for _ in range(n)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(10.0)
                assert _saved(path) == _kept(service), f"seed {seed}"
                assert service.file_mismatch() == ""
        finally:
            service.close()


GOOD = {"id": 1, "label": "bread", "seconds": 600, "due_wall": WALL + 300}

#: Entries of a timers file that is valid JSON but absurd: each must be dropped on its own.
HOSTILE = [
    {"id": float("inf"), "label": "x", "seconds": 60, "due_wall": WALL + 30},  # 1e400 in the file
    {"id": float("-inf"), "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": float("nan"), "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": 10**30, "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": -4, "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": 2.5, "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": "7", "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": True, "label": "x", "seconds": 60, "due_wall": WALL + 30},
    {"id": 7, "label": ["x"], "seconds": 60, "due_wall": WALL + 30},
    {"id": 7, "label": "x", "seconds": float("inf"), "due_wall": WALL + 30},
    {"id": 7, "label": "x", "seconds": float("nan"), "due_wall": WALL + 30},
    {"id": 7, "label": "x", "seconds": "60", "due_wall": WALL + 30},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": 1e12},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": float("inf")},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": float("-inf")},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": float("nan")},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": -5.0},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": None},
    {"id": 7, "label": "x", "seconds": 60, "due_wall": False},
    {"id": 1, "label": "again", "seconds": 60, "due_wall": WALL + 30},  # the good entry's id, a second time
    [1, "x", 60, WALL],
    "timer",
]


@pytest.mark.parametrize("entry", HOSTILE, ids=[json.dumps(e)[:60] for e in HOSTILE])
def test_an_absurd_entry_is_dropped_and_the_good_one_kept(entry: object, caplog: pytest.LogCaptureFixture) -> None:
    data = json.loads(json.dumps({"version": 1, "next_id": 2, "timers": [GOOD, entry]}))
    book, missed = TimerBook.from_json(data, MONO, WALL)
    assert [(t.id, t.label, t.left(MONO)) for t in book.running()] == [(1, "bread", 300.0)] and missed == []
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].exc_info is None  # said once, without a traceback
    assert book.set(60, None, MONO, WALL).id == 2  # ids go on from the good ones


@pytest.mark.parametrize("next_id", [float("inf"), 1e400, 10**30, -3, "9", None, True])
def test_an_absurd_next_id_falls_back_to_the_timers_ids(next_id: object) -> None:
    book, _ = TimerBook.from_json({"timers": [GOOD], "next_id": next_id}, MONO, WALL)
    assert book.set(60, None, MONO, WALL).id == 2


def test_a_restored_timer_never_has_more_left_than_its_own_length() -> None:
    """A Pi without a clock boots with an old time: the saved deadline looks far away. The timer may not
    ring later than its own length from now."""
    saved = {"timers": [{"id": 1, "label": "tea", "seconds": 240, "due_wall": WALL + 240}]}
    book, missed = TimerBook.from_json(saved, MONO, WALL - 3 * 3600)  # the clock is 3 hours behind
    [tea] = book.running()
    assert missed == [] and tea.left(MONO) == 240 and tea.due_wall == WALL - 3 * 3600 + 240


def test_a_hostile_timers_file_never_stops_the_start_and_later_timers_ring(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file of issue #31: an id of 1e400 made the start fail (systemd restarted it every 3 s forever), a
    deadline of 1e12 or Infinity killed the countdown (every later timer silently never rang)."""
    now = time.time()
    good = [
        {"id": 3, "label": "bread", "seconds": 600, "due_wall": now + 300},
        {"id": 4, "label": "soup", "seconds": 60, "due_wall": now - 10},  # ended while down: missed
    ]
    bad = [
        f'{{"id": 1e400, "label": "a", "seconds": 60, "due_wall": {now + 30}}}',
        '{"id": 5, "label": "b", "seconds": 60, "due_wall": 1e12}',
        '{"id": 6, "label": "c", "seconds": 60, "due_wall": Infinity}',
        '{"id": 7, "label": "d", "seconds": 60, "due_wall": NaN}',
        '{"id": 8, "label": "e", "seconds": 1e400, "due_wall": -1e400}',
    ]
    path = tmp_path / "timers.json"
    entries = ", ".join([*map(json.dumps, good), *bad])
    path.write_text(f'{{"version": 1, "next_id": 1e400, "timers": [{entries}]}}')
    rang: list[tuple[str, bool]] = []
    later = threading.Event()

    def ring(timer: Timer, missed: bool) -> None:
        rang.append((timer.label, missed))
        if timer.label == "later":
            later.set()

    service = TimerService(path, ring, Recorder())
    try:
        assert [t.label for t in service.start()] == ["soup"]
        assert [t.label for t in service.running()] == ["bread"]
        dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(dropped) == len(bad) and all(r.exc_info is None for r in dropped)
        assert service.set(1, "later").id == 5  # after the good ones' ids
        assert later.wait(5.0), "a timer set after the hostile file never rang"
        assert rang == [("soup", True), ("later", False)]
        assert {t["label"] for t in json.loads(path.read_text())["timers"]} <= {"bread", "soup", "later"}
    finally:
        service.close()


@pytest.mark.parametrize("text", ["[" * 100_000, '{"timers": ' + "[" * 100_000, "\udcff", "1e400", "null"])
def test_an_unreadable_timers_file_is_ignored(tmp_path: Path, text: str) -> None:
    path = tmp_path / "timers.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    service = TimerService(path, lambda t, m: None, Recorder())
    try:
        assert service.start() == [] and service.running() == []
    finally:
        service.close()


def test_a_timer_stays_in_the_file_until_it_has_rung_and_a_restart_finds_it_missed(tmp_path: Path) -> None:
    """A timer that ends during a turn waits for the turn to end before it rings: a stop (or crash) before
    then must not lose it. It leaves the file only when its alert starts (``rang``)."""
    path = tmp_path / "timers.json"
    ended = threading.Event()
    service = TimerService(path, lambda t, m: ended.set(), Recorder())
    service.start()
    eggs = service.set(1, "eggs")
    service.set(3600, "roast")
    assert ended.wait(5.0)
    assert [t.label for t in service.running()] == ["roast"]
    assert sorted(t["label"] for t in json.loads(path.read_text())["timers"]) == ["eggs", "roast"]  # not rung yet
    assert service.file_mismatch() == ""
    service.close()  # the appliance stops before the turn is over

    rang: list[tuple[str, bool]] = []
    again = TimerService(path, lambda t, m: rang.append((t.label, m)), Recorder())
    [missed] = again.start()
    assert (missed.id, missed.label, rang) == (eggs.id, "eggs", [("eggs", True)])
    assert [t.label for t in again.running()] == ["roast"]
    again.rang(missed.id)  # its alert started
    assert [t["label"] for t in json.loads(path.read_text())["timers"]] == ["roast"]
    again.close()


def test_unmuting_rings_the_timer_that_ended_while_another_rang_muted() -> None:
    """Unmuting acknowledges the alert ringing, not the timers queued behind it: those ring next, as after a
    short press (unmuting dropped them from the queue, and so from the file)."""
    from appliance.core.machine import Emit, Press, S, SetMuted, Snapshot, StartAlert, StopAlert, TimerEnded, step
    from appliance.events import StateChanged

    s = Snapshot()
    for event in (SetMuted(True), TimerEnded("a", timer=1), TimerEnded("b", timer=2)):
        s, _ = step(s, event)
    assert s.state == S.MUTED and s.alert is not None and len(s.pending) == 1
    n, fx = step(s, SetMuted(False))
    assert StopAlert("unmute") in fx and StartAlert("b", False, 2) in fx  # the id: the service is told it rang
    assert n.state == S.ALERTING and not n.muted and n.pending == ()
    assert fx.index(StopAlert("unmute")) < fx.index(StartAlert("b", False, 2))
    assert fx[-1] == Emit(StateChanged("alerting", "muted", "timer"))  # one change: no idle in between
    n, fx = step(s, Press())  # as a short press does, still muted
    assert n.state == S.MUTED and StartAlert("b", False, 2) in fx


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), float("-inf")])
def test_a_length_that_is_no_finite_number_is_refused(seconds: float) -> None:
    """NaN passed every comparison: the timer's deadline was NaN, it never rang and the countdown spun."""
    book = TimerBook()
    with pytest.raises(TimerError):
        book.set(seconds, None, MONO, WALL)
    book.set(60, "tea", MONO, WALL)
    with pytest.raises(TimerError):
        book.add_time("tea", seconds)
    assert [(t.seconds, t.due) for t in book.running()] == [(60, MONO + 60)]

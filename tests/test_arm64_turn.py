"""The arm64 smoke turn's verdict: which exits count as a crash worth one more run, and what the event
stream must show. The turn itself runs under emulation in scripts/test-arm64, not here."""

from __future__ import annotations

import runpy
import signal
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "arm64_turn.py"
turn: dict[str, Any] = runpy.run_path(str(SCRIPT), run_name="arm64_turn")


def test_only_a_memory_fault_or_an_abort_is_run_again():
    crash_signal = turn["crash_signal"]
    assert crash_signal(128 + signal.SIGABRT) is signal.SIGABRT  # glibc's malloc checks
    assert crash_signal(128 + signal.SIGSEGV) is signal.SIGSEGV
    assert crash_signal(128 + signal.SIGBUS) is signal.SIGBUS
    assert crash_signal(128 + signal.SIGILL) is None  # an instruction the Pi lacks: the failure to find
    for code in (0, 1, 2, 128, 255, "timeout after 600 s"):
        assert crash_signal(code) is None


def answered(**changes: Any) -> list[dict[str, Any]]:
    events = [
        {"event": "ready"},
        {"event": "wake", "model": "hey_jarvis", "score": 0.97},
        {"event": "transcript", "text": turn["QUESTION"]},
        {"event": "tool_call", "name": "get_current_time", "ok": True},
        {"event": "answer", "text": turn["ANSWER"]},
        {"event": "turn", "outcome": "answered"},
    ]
    for event in events:
        event.update(changes.get(event["event"], {}))
    return events


def test_the_turn_passes_only_when_answered_with_the_tool_in_order():
    check = turn["check"]
    assert check(answered()) == []
    assert check(answered()[:2]) == ["missing events: ['transcript', 'tool_call', 'answer', 'turn']"]
    assert check(answered(wake={"score": 0.3}))[0].startswith("wake: ")
    assert check(answered(tool_call={"ok": False}))[0].startswith("tool_call: ")
    assert check(answered(turn={"outcome": "failed"}))[0].startswith("turn: ")
    swapped = answered()
    swapped[2], swapped[3] = swapped[3], swapped[2]
    assert check(swapped)[0].startswith("events out of order")
    assert check([*answered(), {"event": "error", "kind": "stt"}])[0].startswith("errors: ")


def test_a_crash_is_shown_with_its_stacks_and_the_turn_runs_once_more(tmp_path, monkeypatch, capsys):
    runs: list[tuple[int, list[dict[str, Any]], float]] = [
        (128 + signal.SIGABRT, answered()[:2], 40.0),
        (0, answered(), 60.0),
    ]

    def attempt(release: str, work: Path) -> tuple[int, list[dict[str, Any]], float]:
        (work / "turn-stderr.txt").write_text(
            "malloc(): unaligned tcache chunk detected\nThread 0x0001 (most recent call first):\n"
        )
        return runs.pop(0)

    module_globals = turn["main"].__globals__
    monkeypatch.setitem(module_globals, "attempt", attempt)
    monkeypatch.setattr("sys.argv", ["arm64_turn.py", "trixie", str(tmp_path)])
    assert turn["main"]() == 0 and runs == []
    out = capsys.readouterr().out
    assert "the emulated appliance crashed (SIGABRT) after 40 s" in out
    assert "Thread 0x0001 (most recent call first)" in out
    assert out.rstrip().endswith("on the second run after a crash (SIGABRT, stacks above)")

    runs[:] = [(128 + signal.SIGSEGV, [], 40.0), (128 + signal.SIGSEGV, [], 41.0)]
    assert turn["main"]() == 1 and runs == []  # a crash that repeats fails the smoke test
    assert "appliance run exited with 139" in capsys.readouterr().out


def test_a_hung_emulation_is_shown_with_its_events_and_the_turn_runs_once_more(tmp_path, monkeypatch, capsys):
    hang = "timeout after 600 s"
    runs: list[tuple[int | str, list[dict[str, Any]], float]] = [(hang, answered()[:2], 600.0), (0, answered(), 60.0)]

    def attempt(release: str, work: Path) -> tuple[int | str, list[dict[str, Any]], float]:
        (work / "turn-stderr.txt").write_text("the stand-in cloud: POST /v1/responses\n")
        return runs.pop(0)

    monkeypatch.setitem(turn["main"].__globals__, "attempt", attempt)
    monkeypatch.setattr("sys.argv", ["arm64_turn.py", "trixie", str(tmp_path)])
    assert turn["main"]() == 0 and runs == []
    out = capsys.readouterr().out
    assert f"the emulation hung ({hang}) after 600 s" in out
    assert '"model": "hey_jarvis"' in out  # the events it had reached
    assert out.rstrip().endswith(f"on the second run after the emulation hung ({hang}, above)")

    runs[:] = [(hang, answered()[:2], 600.0), (hang, answered()[:2], 600.0)]
    assert turn["main"]() == 1 and runs == []  # a hang that repeats fails the smoke test
    assert f"appliance run exited with {hang}" in capsys.readouterr().out

    runs[:] = [(hang, [], 600.0)]
    assert turn["main"]() == 1 and runs == []  # never ready: no second run hides a start-up that hangs

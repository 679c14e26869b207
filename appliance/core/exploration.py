"""Exploring the machine: one of each kind of event in every reachable snapshot, and the shortest path to each
state change (from this, :mod:`appliance.core.machine` derives its table)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace

from appliance.core.machine_io import (
    AlertStopped,
    AnnouncementDone,
    Arbitrated,
    Ask,
    Effect,
    InternalError,
    MachineEvent,
    MicEnded,
    Press,
    Progress,
    RecordingEnded,
    Say,
    SetMuted,
    Shutdown,
    Snapshot,
    State,
    TimerEnded,
    TurnDone,
    TurnProgress,
    WakeWord,
)
from appliance.events import PressKind

Step = Callable[[Snapshot, MachineEvent], tuple[Snapshot, tuple[Effect, ...]]]


def sample_events(s: Snapshot) -> Iterator[MachineEvent]:
    """One of each kind of event, with the ids the snapshot makes current (and a stale one)."""
    yield WakeWord("wake", 0.9)
    yield from (Arbitrated(True, "here", "best"), Arbitrated(False, "there", "beaten"))
    for kind in PressKind:
        yield Press(kind, "button")
    yield Press(PressKind.SHORT, "ctl")
    yield from (RecordingEnded(True), RecordingEnded(False))
    for what in Progress:
        yield TurnProgress(s.turn, what)
    for outcome in ("answered", "error"):
        yield TurnDone(s.turn, outcome, follow_up=outcome == "answered")
    yield TurnDone(s.turn, "answered", follow_up=False)
    yield from (SetMuted(True), SetMuted(False), Ask("what time is it"), Say("dinner is ready"))
    yield AnnouncementDone(s.announcing)
    yield from (MicEnded(), Shutdown(), AlertStopped("timeout"), InternalError())
    if len(s.pending) < 2:
        yield TimerEnded("tea")


def _key(s: Snapshot) -> Snapshot:
    """Snapshots that differ only in their counters behave alike."""
    return replace(s, turns=0, jobs=0, turn=min(s.turn, 1), announcing=min(s.announcing, 1))


def explore(step: Step, start: Snapshot | None = None) -> dict[tuple[State, State], tuple[MachineEvent, ...]]:
    """Every transition ``step`` makes from ``start`` on, each with a shortest sequence of events producing it."""
    first = start or Snapshot()
    paths: dict[tuple[State, State], tuple[MachineEvent, ...]] = {}
    seen = {_key(first)}
    queue: deque[tuple[Snapshot, tuple[MachineEvent, ...]]] = deque([(first, ())])
    while queue:
        s, path = queue.popleft()
        for event in sample_events(s):
            n, _ = step(s, event)
            if n.state != s.state:
                paths.setdefault((s.state, n.state), (*path, event))
            if _key(n) not in seen:
                seen.add(_key(n))
                queue.append((n, (*path, event)))
    return paths

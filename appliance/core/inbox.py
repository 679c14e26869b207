"""The app's inbox: two queues read as one, control messages (events, commands) always before audio frames,
so a press never waits behind seconds of queued microphone audio (as pipecat's system frames jump the queue).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.ports import Tap


@dataclass(frozen=True)
class Frame:
    pcm: np.ndarray
    tap: Tap | None = None  # the raw frame and echo reference, from a front end, when barge-in uses them


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    reply: Callable[[dict[str, Any]], None]


class Inbox:
    def __init__(self) -> None:
        self._control: deque[Any] = deque()
        self._audio: deque[Any] = deque()
        self._ready = threading.Condition()

    def put(self, message: Any, *, audio: bool = False) -> None:
        """Queue ``message``; frames (and, with ``audio``, what must follow them, such as the end of the
        input) keep their order on the audio queue, which is read only when no control message waits."""
        with self._ready:
            (self._audio if audio or isinstance(message, Frame) else self._control).append(message)
            self._ready.notify()

    def get(self, timeout: float) -> Any | None:
        with self._ready:
            if not self._control and not self._audio:
                self._ready.wait(timeout)
            if self._control:
                return self._control.popleft()
            return self._audio.popleft() if self._audio else None

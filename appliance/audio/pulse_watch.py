"""Which PulseAudio source the microphone's stream is on (PulseAudio, or PipeWire's pulse server).

When the source a recording stream is on goes away, PulseAudio moves the stream to the default source; with no
microphone left that is the monitor of a sink, and the appliance hears its own speaker and nothing else.
PortAudio cannot tell (the stream goes on delivering audio, and its ALSA device is still "default"), so this
asks the sound server with ``pactl`` (pulseaudio-utils 16 or later, for ``-f json``): once when the stream is
open, then whenever ``pactl subscribe`` reports a recording stream that changed or a source that went away.
That is one child process for the appliance's lifetime, and nothing runs between events. Without ``pactl``,
without a running server (``pactl`` must not start one) or when the stream is not on the server (a plain ALSA
device), there is nothing to watch.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: the events after which the stream may be on another source (``pactl subscribe`` lines)
_RELEVANT = re.compile(
    r"^Event '(new|change)' on source-output #|^Event 'remove' on source #|^Event 'change' on server"
)


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    monitor: bool  # the sound a sink plays, not a microphone


def _server_running() -> bool:
    """A PulseAudio (or PipeWire pulse) server is there: named, or its socket exists (per user or system-wide)."""
    if os.environ.get("PULSE_SERVER"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return any(Path(p).exists() for p in (f"{runtime}/pulse/native", "/run/pulse/native", "/var/run/pulse/native"))


def _is_monitor(source: dict[str, Any]) -> bool:
    # pactl 16 names the monitored sink "monitor_source" in its JSON ("" for a real source)
    return source.get("properties", {}).get("device.class") == "monitor" or bool(source.get("monitor_source"))


class PulseInputWatch:
    """The sources this process records from, and the monitor its stream was moved to (``moved``), if any."""

    def __init__(self, pactl: str, pid: int) -> None:
        self._pactl = pactl
        self.pid = pid
        self.moved: Source | None = None  # set once, from the watching thread
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, pid: int | None = None) -> PulseInputWatch | None:
        """A watch on this process's recording stream (already ``moved`` if it is on a monitor now), or None when
        there is no PulseAudio stream to watch."""
        if not _server_running():
            return None  # a plain ALSA device; and pactl must not start a sound server (autospawn)
        pactl = shutil.which("pactl")
        if pactl is None:
            log.debug("microphone: no pactl, so a move of the input to a monitor cannot be seen")
            return None
        watch = cls(pactl, os.getpid() if pid is None else pid)
        try:
            watch._start()  # first, so that no move after the look below is missed
            sources = watch.sources()
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            log.debug("microphone: the sound server cannot be asked where the input is (%s)", exc)
            watch.close()
            return None
        if not sources:
            watch.close()
            return None  # the stream is not on this sound server (a plain ALSA device)
        log.debug("microphone: PulseAudio source %s", ", ".join(s.name for s in sources))
        watch.moved = next((s for s in sources if s.monitor), None)
        return watch

    def sources(self) -> list[Source]:
        """The sources this process's recording streams are on (none: not on this sound server)."""
        ours = {
            o["source"]
            for o in self._list("source-outputs")
            if str(o.get("properties", {}).get("application.process.id")) == str(self.pid)
        }
        if not ours:
            return []
        return [
            Source(str(s["name"]), str(s.get("description", "")), _is_monitor(s))
            for s in self._list("sources")
            if s["index"] in ours
        ]

    def monitor(self) -> Source | None:
        """The monitor among the stream's sources, if it is on one."""
        return next((s for s in self.sources() if s.monitor), None)

    def _start(self) -> None:
        """Watch in the background: ``moved`` is set when the stream is found on a monitor."""
        self._proc = subprocess.Popen(
            [self._pactl, "subscribe"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._watch, args=(self._proc,), name="pulse-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._thread is not None:
            self._thread.join(2)

    def _watch(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if self.moved is not None or not _RELEVANT.match(line):
                continue
            try:
                self.moved = self.monitor()
            except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
                log.debug("microphone: asking the sound server where the input is failed: %s", exc)
            if self.moved is not None:
                log.debug("microphone: PulseAudio moved the input to %s", self.moved.name)

    def _list(self, what: str) -> list[dict[str, Any]]:
        out = subprocess.run(
            [self._pactl, "-f", "json", "list", what], capture_output=True, text=True, timeout=5, check=True
        ).stdout
        found = json.loads(out)
        if not isinstance(found, list):
            raise ValueError(f"pactl list {what}: not a list")
        return found

"""An echo path in the PulseAudio test server, and a full-duplex session on it through PyAudio.

``module-loopback source=spk.monitor sink=micfeed`` feeds what the appliance plays back into its own
microphone with a real delay (the loopback's latency plus both devices' buffers) and an attenuation (the
loopback stream's volume); the user's voice is mixed in with paplay into the same sink. The session runs
the microphone, the front end with the played audio as reference and the wake word, all on their real
threads and devices, and keeps what it heard.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.audio.pyaudio_io import PyAudioMicrophone, PyAudioSpeaker
from appliance.config.frontend import FrontEndSettings
from appliance.frontend.base import FrontEnd, make_frontend
from appliance.frontend.microphone import FrontEndMicrophone
from appliance.frontend.reference import ReferenceBuffer, ReferenceSpeaker
from appliance.ports import FRAME_SECONDS, WakeDetector, WakeHit
from appliance.wake.barge_in import BargeInDetector
from standin.voice import write_wav


@contextmanager
def echo_path(pulse, latency_ms: int = 40, volume: float = 0.6) -> Iterator[int]:
    """Loop the speaker back into the microphone; ``volume`` is PulseAudio's (cubic: 0.6 ≈ -13 dB)."""
    out = pulse.run(
        "pactl",
        "load-module",
        "module-loopback",
        "source=spk.monitor",
        "sink=micfeed",
        f"latency_msec={latency_ms}",
        "source_dont_move=true",
        "sink_dont_move=true",
    ).stdout
    module = int(out.decode().strip())
    try:
        listing = pulse.run("pactl", "list", "sink-inputs").stdout.decode()
        owned = re.findall(r"Sink Input #(\d+)\n(?:\t.*\n)*?\tOwner Module: (\d+)", listing)
        index = next(int(i) for i, owner in owned if int(owner) == module)
        pulse.run("pactl", "set-sink-input-volume", str(index), f"{round(volume * 65536)}")
        yield module
    finally:
        pulse.run("pactl", "unload-module", str(module))


@dataclass
class Heard:
    raw: list[np.ndarray] = field(default_factory=list)  # the microphone's frames
    clean: list[np.ndarray] = field(default_factory=list)  # after the front end
    hits: list[tuple[float, WakeHit]] = field(default_factory=list)  # (mic seconds, hit)
    front_end_hits: list[float] = field(default_factory=list)  # mic seconds the front end's frames woke it (or
    # would have, but for the own-voice veto)

    def seconds(self) -> float:
        return len(self.raw) * FRAME_SECONDS


class DuplexSession:
    """Microphone → front end → wake word on a thread; the speaker wrapped so the front end gets the reference.

    With ``barge_in``, while ``speaking`` is set (the app's thinking/speaking states) each frame's raw audio and
    reference also go to it, as the app does."""

    def __init__(
        self, detector: WakeDetector, settings: FrontEndSettings, barge_in: BargeInDetector | None = None
    ) -> None:
        self.buffer = ReferenceBuffer()
        self.frontend: FrontEnd = make_frontend(settings, self.buffer)
        self.detector = detector
        self.barge_in = barge_in
        self.speaking = False
        self.speaker = ReferenceSpeaker(PyAudioSpeaker(""), self.buffer)
        self.mic = PyAudioMicrophone("")
        self.heard = Heard()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        for tap in FrontEndMicrophone(self.mic, self.frontend).taps():
            if self._stop.is_set():
                return
            frame, clean = tap.raw, tap.clean
            hit = front_end_hit = self.detector.process(clean)
            if self.barge_in is not None:
                if self.speaking:
                    hit = self.barge_in.process(tap.raw, tap.reference, front_end_hit)
                else:
                    self.barge_in.pause()
            with self._cond:
                self.heard.raw.append(frame)
                self.heard.clean.append(clean)
                if front_end_hit is not None:
                    self.heard.front_end_hits.append(self.heard.seconds())
                if hit is not None:
                    self.heard.hits.append((self.heard.seconds(), hit))
                self._cond.notify_all()

    def mic_seconds(self) -> float:
        with self._cond:
            return self.heard.seconds()

    def wait_heard(self, seconds: float, timeout: float = 30.0) -> None:
        """Block until the microphone has delivered ``seconds`` of audio in all."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.heard.seconds() >= seconds, timeout):
                raise TimeoutError(f"the microphone delivered {self.heard.seconds():.1f} s, not {seconds:.1f} s")

    def close(self) -> None:
        # the reading thread stops first: closing a PortAudio stream under a blocked read corrupts the heap
        self._stop.set()
        self._thread.join(5)
        self.mic.close()
        self.speaker.close()


def say_into_mic(pulse, pcm: np.ndarray, path: Path, rate: int = 16000) -> subprocess.Popen[bytes]:
    write_wav(path, pcm, rate)
    return pulse.play_into_mic(path)


def erle_db(raw: np.ndarray, clean: np.ndarray) -> float:
    """Echo return loss enhancement: how much quieter the echo is after the canceller."""
    e_raw = float(np.mean(np.square(raw, dtype=np.float64))) + 1e-9
    e_clean = float(np.mean(np.square(clean, dtype=np.float64))) + 1e-9
    return 10 * float(np.log10(e_raw / e_clean))

"""PyAudio microphone and speaker: the real audio adapters (ALSA/PulseAudio/PipeWire via PortAudio).

The microphone opens the device at its native rate and channel count and converts to the pipeline's
16 kHz mono int16; the speaker keeps one output stream open so consecutive sentences play gaplessly, and
writes in short blocks so a cancel stops playback within about one block plus the device latency.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from appliance.audio.convert import FrameChunker, StreamResampler, float_to_int16, to_mono_float
from appliance.audio.pulse_watch import PulseInputWatch, Source
from appliance.cancel import CancelToken
from appliance.errors import ApplianceError, ErrorKind, MissingResource
from appliance.ports import FRAME_SAMPLES, SAMPLE_RATE

log = logging.getLogger(__name__)


#: Where ALSA routes to PulseAudio or PipeWire, a client that asks for no latency gets the server's
#: default (up to 2 s): the first sentence would start late and a stop would leave seconds of audio
#: queued. Ask for a short buffer unless the environment already chose one.
PULSE_LATENCY_MSEC = "40"

#: How long close() waits for a read or write in progress before it leaves the device to the process's exit
#: (neither ever waits inside PortAudio, so they return within milliseconds).
CLOSE_WAIT_SECONDS = 2.0


def _pyaudio() -> Any:
    os.environ.setdefault("PULSE_LATENCY_MSEC", PULSE_LATENCY_MSEC)
    try:
        import pyaudio
    except ImportError as exc:  # pragma: no cover - pyaudio is a dependency
        raise ApplianceError(ErrorKind.AUDIO, f"PyAudio is not installed: {exc}") from exc
    return pyaudio


def list_devices(pa: Any) -> list[dict[str, Any]]:
    return [pa.get_device_info_by_index(i) for i in range(pa.get_device_count())]


def _device_fix(kind: str) -> str:
    setting = "output_device" if kind == "output" else "input_device"
    thing = "speaker" if kind == "output" else "microphone"
    return (
        f"plug in a {thing}, or set [audio] {setting} to an index or part of a name from "
        "`appliance doctor` (empty = the system default)"
    )


def find_device(pa: Any, spec: str, *, output: bool) -> dict[str, Any]:
    """The device named by ``spec`` (an index, or part of a name; "" = the default). A device that is not
    there raises MissingResource: at start that is exit 2 with the fix, not a restart loop."""
    key = "maxOutputChannels" if output else "maxInputChannels"
    kind = "output" if output else "input"
    try:
        info: dict[str, Any]
        if not spec:
            info = pa.get_default_output_device_info() if output else pa.get_default_input_device_info()
            return info
        if spec.isdigit():
            info = pa.get_device_info_by_index(int(spec))
            if info[key] > 0:
                return info
            raise MissingResource(
                ErrorKind.AUDIO, f"audio device {spec} ({info.get('name')}) has no {kind} channels", _device_fix(kind)
            )
    except (OSError, ValueError) as exc:
        raise MissingResource(
            ErrorKind.AUDIO, f"no {kind} audio device {spec or '(default)'} ({exc})", _device_fix(kind)
        ) from exc
    matches = [d for d in list_devices(pa) if spec.lower() in str(d["name"]).lower() and d[key] > 0]
    if not matches:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in list_devices(pa) if d[key] > 0) or "none"
        raise MissingResource(
            ErrorKind.AUDIO, f"no {kind} audio device matches {spec!r} (have: {names})", _device_fix(kind)
        )
    return matches[0]


def _heard(source: Source) -> str:
    return f"{source.description!r} ({source.name}), the sound of a speaker: it would hear only itself"


class PyAudioMicrophone:
    def __init__(self, device: str = "", block_seconds: float = 0.02) -> None:
        pyaudio = _pyaudio()
        self._pa = pyaudio.PyAudio()
        try:
            info = find_device(self._pa, device, output=False)
            self.device_name = str(info["name"])
            self._stream, self.rate, self.channels = self._open(pyaudio, info, block_seconds)
            self._block = max(1, int(self.rate * block_seconds))
            self._watch = PulseInputWatch.open()
            if self._watch is not None and self._watch.moved is not None:
                self._watch.close()
                raise MissingResource(
                    ErrorKind.AUDIO,
                    f"no microphone: PulseAudio records {_heard(self._watch.moved)}",
                    "plug in a microphone, or make one the default input (`pactl set-default-source`)",
                )
        except Exception:
            self._pa.terminate()
            raise
        self._closed = threading.Event()
        self._in_use = threading.Lock()  # held while a call is inside the stream
        log.info("microphone: %s at %d Hz, %d channel(s)", self.device_name, self.rate, self.channels)

    def _open(self, pyaudio: Any, info: dict[str, Any], block_seconds: float) -> tuple[Any, int, int]:
        """Open at the device's native format: many HAT codecs (WM8960, ...) only do stereo, and some USB
        microphones only 44.1 or 48 kHz. The first format the device accepts wins."""
        native = int(info["defaultSampleRate"])
        most = max(1, min(2, int(info["maxInputChannels"])))
        tried = []
        for rate, channels in dict.fromkeys(
            [(native, 1), (native, most), (48000, 1), (48000, 2), (44100, 1), (44100, 2), (16000, 1), (16000, 2)]
        ):
            if channels > int(info["maxInputChannels"]):
                continue
            try:
                stream = self._pa.open(
                    format=pyaudio.paInt16,
                    channels=channels,
                    rate=rate,
                    input=True,
                    input_device_index=int(info["index"]),
                    frames_per_buffer=max(1, int(rate * block_seconds)),
                )
                return stream, rate, channels
            except (OSError, ValueError) as exc:
                tried.append(f"{rate} Hz x{channels}: {exc}")
        raise ApplianceError(
            ErrorKind.AUDIO, f"microphone {self.device_name!r} accepts none of the formats tried ({'; '.join(tried)})"
        )

    def frames(self) -> Iterator[np.ndarray]:
        resampler = StreamResampler(self.rate, SAMPLE_RATE)
        chunker = FrameChunker(FRAME_SAMPLES)
        while True:
            with self._in_use:  # close() stops the stream and PortAudio only when no call is inside them
                if self._closed.is_set():
                    return
                try:
                    data, wait = self._read()
                except OSError as exc:
                    raise ApplianceError(ErrorKind.AUDIO, f"microphone read failed: {exc}") from exc
            if self._watch is not None and self._watch.moved is not None:
                raise ApplianceError(
                    ErrorKind.AUDIO,
                    f"the microphone is gone: PulseAudio moved the input to {_heard(self._watch.moved)}",
                )
            if data is None:
                self._closed.wait(wait)
                continue
            x = to_mono_float(data, self.channels, 2)
            yield from chunker.push(float_to_int16(resampler.process(x)))

    def _read(self) -> tuple[bytes | None, float]:
        """What the device holds (up to a few blocks), else (None, how long to wait: a block). A read never
        waits inside PortAudio, so close() never waits for the device (nor frees it under a blocked read)."""
        available = min(self._stream.get_read_available(), 4 * self._block)
        if available <= 0:
            return None, self._block / self.rate
        return self._stream.read(available, exception_on_overflow=False), 0.0

    def close(self) -> None:
        """Stop the reader first, then the stream, then PortAudio (issue #31: freeing them under a read that
        was still running crashed the process at SIGTERM)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._watch is not None:
            self._watch.close()
        if not self._in_use.acquire(timeout=CLOSE_WAIT_SECONDS):
            log.warning("microphone: a read did not return in %.0f s; the device is left open", CLOSE_WAIT_SECONDS)
            return
        try:
            self._stream.stop_stream()
            self._stream.close()
        except OSError:
            log.debug("closing the microphone stream failed", exc_info=True)
        finally:
            self._pa.terminate()
            self._in_use.release()


class PyAudioSpeaker:
    def __init__(self, device: str = "", block_ms: int = 40) -> None:
        pyaudio = _pyaudio()
        self._pyaudio = pyaudio
        self._pa = pyaudio.PyAudio()
        try:
            info = find_device(self._pa, device, output=True)
        except Exception:
            self._pa.terminate()
            raise
        self.info = info
        self.rate = int(info["defaultSampleRate"])
        self.channels = 1
        self.device_index = int(info["index"])
        self.device_name = str(info["name"])
        self.block_ms = block_ms
        self.block = max(1, self.rate * block_ms // 1000)
        self._stream: Any = None
        self._lock = threading.Lock()  # held while a call is inside the stream
        self._closed = threading.Event()
        self._resamplers: dict[int, StreamResampler] = {}
        log.info("speaker: %s at %d Hz", self.device_name, self.rate)

    def _open(self) -> Any:
        """Open at the device's native format (mono if it can, else stereo; stereo-only HAT codecs exist)."""
        if self._stream is not None:
            return self._stream
        native = int(self.info["defaultSampleRate"])
        most = max(1, min(2, int(self.info["maxOutputChannels"])))
        tried = []
        for rate, channels in dict.fromkeys([(native, 1), (native, most), (48000, 2), (44100, 2)]):
            if channels > int(self.info["maxOutputChannels"]):
                continue
            block = max(1, rate * self.block_ms // 1000)
            try:
                self._stream = self._pa.open(
                    format=self._pyaudio.paInt16,
                    channels=channels,
                    rate=rate,
                    output=True,
                    output_device_index=self.device_index,
                    frames_per_buffer=block,
                )
            except (OSError, ValueError) as exc:
                tried.append(f"{rate} Hz x{channels}: {exc}")
                continue
            if rate != self.rate:
                self._resamplers.clear()
            self.rate, self.channels, self.block = rate, channels, block
            return self._stream
        raise ApplianceError(ErrorKind.AUDIO, f"cannot open the speaker {self.device_name!r} ({'; '.join(tried)})")

    def play(self, pcm: np.ndarray, rate: int, cancel: CancelToken | None = None) -> bool:
        """Play ``pcm``; False if it was cancelled, or the speaker closed (a shutdown) before it ended."""
        with self._lock:
            if self._closed.is_set():
                return False
            stream = self._open()
            if rate != self.rate:
                if rate not in self._resamplers:
                    self._resamplers[rate] = StreamResampler(rate, self.rate)
                pcm = float_to_int16(self._resamplers[rate].process(pcm.astype(np.float32) / 32768.0))
            for start in range(0, len(pcm), self.block):
                if (cancel is not None and cancel.cancelled) or self._closed.is_set():
                    return False
                block = pcm[start : start + self.block]
                if self.channels > 1:
                    block = np.repeat(block, self.channels)
                try:
                    if not self._write(stream, block.astype("<i2").tobytes(), cancel):
                        return False
                except OSError as exc:
                    self._stream = None
                    raise ApplianceError(ErrorKind.AUDIO, f"speaker write failed: {exc}") from exc
        return not ((cancel and cancel.cancelled) or self._closed.is_set())

    def _write(self, stream: Any, data: bytes, cancel: CancelToken | None) -> bool:
        """Write without ever blocking inside PortAudio: as much as there is room for, then wait for
        room here, where a cancel is seen at once. The device buffer stays full (no underruns)."""
        frame_bytes = 2 * self.channels
        deadline = time.monotonic() + 5.0
        while data:
            room = stream.get_write_available()
            if room > 0:
                n = min(room * frame_bytes, len(data))
                stream.write(data[:n], n // frame_bytes)
                data = data[n:]
                continue
            if time.monotonic() > deadline:
                raise OSError("the audio device accepts no data (stalled for 5 s)")
            if self._closed.is_set() or (cancel.wait(0.003) if cancel is not None else self._closed.wait(0.003)):
                return False
        return True

    def drain(self) -> None:
        resamplers, self._resamplers = self._resamplers, {}
        for resampler in resamplers.values():  # the end of the last sound, still inside the resampler
            tail = float_to_int16(resampler.process(np.zeros(0, dtype=np.float32), last=True))
            if len(tail):
                self.play(tail, self.rate)
        with self._lock:
            if self._stream is not None and not self._closed.is_set():
                # Closing a PortAudio stream with Pa_StopStream plays what is buffered, then stops.
                self._stream.stop_stream()
                self._stream.close()
                self._stream = None

    def close(self) -> None:
        """Stop the writers first (a play in progress returns False), then the stream, then PortAudio; never
        PortAudio under a stream in use (issue #31)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if not self._lock.acquire(timeout=CLOSE_WAIT_SECONDS):
            log.warning("speaker: a write did not return in %.0f s; the device is left open", CLOSE_WAIT_SECONDS)
            return
        try:
            if self._stream is not None:
                try:
                    self._stream.close()  # Pa_CloseStream drops what is still buffered: this is a shutdown
                except OSError:
                    log.debug("closing the speaker stream failed", exc_info=True)
                self._stream = None
        finally:
            self._pa.terminate()
            self._lock.release()

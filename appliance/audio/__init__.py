"""Audio backends by name (``audio.backend``): each makes the microphone and the speaker.

``pyaudio`` uses the sound devices (ALSA / PulseAudio); ``wavfile`` reads and writes WAV files, which is
what ``--mic`` / ``--speaker`` select. Another package adds a backend in the ``appliance.audio`` entry-point
group: a function returning an :class:`AudioBackend` (``microphone(settings, options)`` and
``speaker(settings, options)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from appliance.registry import Registry

if TYPE_CHECKING:
    from appliance.config.settings import Settings
    from appliance.ports import Microphone, Speaker


class AudioOptions(Protocol):
    """What the command line adds to the settings (wiring.RunOptions is one)."""

    mic: str | None
    speaker: str | None
    pace: float
    mic_start_at: float | None
    speaker_rate: int


@dataclass(frozen=True)
class AudioBackend:
    microphone: Callable[[Settings, AudioOptions], Microphone]
    speaker: Callable[[Settings, AudioOptions], Speaker]


def _pyaudio_microphone(settings: Settings, options: AudioOptions) -> Microphone:
    from appliance.audio.pyaudio_io import PyAudioMicrophone

    return PyAudioMicrophone(settings.audio.input_device)


def _pyaudio_speaker(settings: Settings, options: AudioOptions) -> Speaker:
    from appliance.audio.pyaudio_io import PyAudioSpeaker

    return PyAudioSpeaker(settings.audio.output_device, block_ms=settings.audio.playback_block_ms)


def _wav_microphone(settings: Settings, options: AudioOptions) -> Microphone:
    from appliance.audio.wavfile import WavMicrophone
    from appliance.config.settings import SettingsError

    if not options.mic:
        raise SettingsError('audio.backend = "wavfile" needs a WAV file for the microphone: pass --mic PATH.wav')
    return WavMicrophone(options.mic, pace=options.pace, start_at=options.mic_start_at)


def _wav_speaker(settings: Settings, options: AudioOptions) -> Speaker:
    from appliance.audio.wavfile import WavSpeaker

    return WavSpeaker(
        options.speaker, rate=options.speaker_rate, pace=options.pace, block_ms=settings.audio.playback_block_ms
    )


PYAUDIO = AudioBackend(_pyaudio_microphone, _pyaudio_speaker)
WAVFILE = AudioBackend(_wav_microphone, _wav_speaker)
#: name → a function of no arguments returning the backend (what an entry point names, too)
AUDIO_BACKENDS: Registry[Callable[[], AudioBackend]] = Registry("audio backend", "audio.backend", "appliance.audio")
AUDIO_BACKENDS.register("pyaudio", lambda: PYAUDIO)
AUDIO_BACKENDS.register("wavfile", lambda: WAVFILE)

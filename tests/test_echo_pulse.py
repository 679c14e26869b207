"""Full duplex on the real sound server: the appliance's answer (piper's voice, played through PyAudio at
24 kHz) loops back into its microphone through module-loopback with a real delay and attenuation, the user's
voice is mixed in, and the front end with the played audio as reference sits between the microphone and the
wake word at its normal threshold (no boost while speaking). While it speaks, the barge-in listens to the raw
microphone too, with the own-voice veto (a detector on what the speaker plays), as the app wires it.

Over seeded runs: the appliance never wakes on its own voice, even when its answer says the wake word; the
user's "hey jarvis" said over the answer is found; echo return loss enhancement is measured and reported."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from echo import DuplexSession, echo_path, erle_db, say_into_mic

from appliance.audio.convert import resample
from appliance.cancel import CancelToken
from appliance.config.frontend import FrontEndSettings
from appliance.config.settings import WakeSettings
from appliance.ports import FRAME_SECONDS
from appliance.wake.barge_in import BargeInDetector
from appliance.wake.oww import OpenWakeWordDetector
from standin.voice import synth

pytestmark = [pytest.mark.pulse, pytest.mark.slow]  # real-time playback of synthesized speech

#: answers that say the wake word themselves: the worst case for waking on one's own voice
SELF = (
    "You can wake me by saying hey Jarvis, and then ask your question. Hey Jarvis works from across the room.",
    "My name is Jarvis. Say hey Jarvis whenever you need me, for example hey Jarvis, what time is it?",
)
ANSWER = (
    "The forecast for tomorrow is mostly sunny with a few clouds in the afternoon, light winds from the "
    "west and a high of twenty two degrees, so it is a good day for a walk in the park."
)


def answer_24k(text: str) -> np.ndarray:
    return resample(synth(text), 16000, 24000)  # what ElevenLabs' pcm_24000 would hand the speaker


@pytest.fixture(scope="module")
def detector():
    return OpenWakeWordDetector(WakeSettings(refractory_seconds=2.0), seed=0)


@pytest.fixture(scope="module")
def barge_in():
    """As the app wires it with the front end on: the raw microphone's and the reference's own detectors."""
    settings = WakeSettings(refractory_seconds=2.0)
    return BargeInDetector(OpenWakeWordDetector(settings, seed=0), OpenWakeWordDetector(settings, seed=0))


def play_answer(session: DuplexSession, pcm: np.ndarray) -> tuple[float, float]:
    """Play it to the end, speaking as the app is; (mic seconds at start, mic seconds when its echo has died)."""
    start = session.mic_seconds()
    session.speaking = True
    assert session.speaker.play(pcm, 24000)
    session.speaker.drain()
    end = session.mic_seconds() + 0.5
    session.wait_heard(end)
    session.speaking = False
    return start, end


def test_never_wakes_on_its_own_voice_and_reports_erle(pulse, detector, barge_in, capsys):
    detector.reset()
    barge_in.vetoed = 0
    with echo_path(pulse, latency_ms=40, volume=0.8):
        session = DuplexSession(detector, FrontEndSettings(enabled=True), barge_in)
        try:
            session.wait_heard(1.0)
            spans = [play_answer(session, answer_24k(text)) for text in SELF]
        finally:
            session.close()
    heard = session.heard
    assert heard.hits == [], f"woke on its own voice: {heard.hits} (front end at {heard.front_end_hits})"
    # the raw microphone did hear its own "hey Jarvis" (the control below wakes on it): the veto stopped it
    assert barge_in.vetoed >= 1
    # the echo really reached the microphone, and the canceller removed most of it
    first, last = round((spans[0][0] + 1.0) / FRAME_SECONDS), round(spans[-1][1] / FRAME_SECONDS)
    raw, clean = np.concatenate(heard.raw[first:last]), np.concatenate(heard.clean[first:last])
    assert 20 * np.log10(np.sqrt(np.mean(raw.astype(np.float64) ** 2)) / 32768) > -40
    erle = erle_db(raw, clean)
    with capsys.disabled():
        print(f"\nERLE on the PulseAudio echo path (40 ms loopback, -6 dB): {erle:.1f} dB")
        print(f"own-voice vetoes {barge_in.vetoed}; the front end's frames alone woke it at {heard.front_end_hits}")
    # measured 6.4-6.9 dB on the loaded 2-core build machine: the output underruns step the echo's lag by
    # 30-80 ms mid-answer and AEC3 needs 1-2 s to follow each step (docs/wake-word.md)
    assert erle > 4.0


def test_without_the_front_end_the_same_answers_wake_it(pulse, detector):
    """The control: the echo path is real, and it is the front end that keeps the appliance quiet."""
    detector.reset()
    with echo_path(pulse, latency_ms=40, volume=0.8):
        session = DuplexSession(detector, FrontEndSettings(enabled=False))
        try:
            session.wait_heard(1.0)
            for text in SELF:
                play_answer(session, answer_24k(text))
        finally:
            session.close()
    assert session.heard.hits, "the answers say hey Jarvis: without echo cancellation it should wake"


BARGE_INS = 10
#: the echo at -18 dB (PulseAudio's cubic volume 0.5): the user about 10 dB above the echo; and as loud as the
#: user (0.8, -6 dB), where AEC3's suppressor takes the user's voice with the echo during double talk and the
#: barge-in's raw microphone is what hears them (appliance/wake/barge_in.py)
BARGE_ECHO_VOLUME = 0.5
LOUD_ECHO_VOLUME = 0.8


@pytest.mark.parametrize(
    ("volume", "least"), [(BARGE_ECHO_VOLUME, 9), (LOUD_ECHO_VOLUME, 6)], ids=["echo-18dB", "echo-6dB"]
)
def test_barge_in_by_the_wake_word_while_speaking_is_found(pulse, detector, barge_in, volume, least, tmp_path, capsys):
    rng = np.random.default_rng(16)
    answer = answer_24k(ANSWER)
    found = 0
    barge_in.vetoed = 0
    with echo_path(pulse, latency_ms=40, volume=volume):
        session = DuplexSession(detector, FrontEndSettings(enabled=True), barge_in)
        try:
            session.wait_heard(0.5)
            for run in range(BARGE_INS):
                detector.reset()
                user = synth(
                    "hey jarvis", speed=float(rng.choice([0.9, 1.0, 1.1])), gain_db=float(rng.uniform(-9.0, -3.0))
                )
                offset = float(rng.uniform(1.5, 4.0))
                start = session.mic_seconds()
                stop = CancelToken()
                player = threading.Thread(target=session.speaker.play, args=(answer, 24000, stop))
                session.speaking = True
                player.start()
                session.wait_heard(start + offset)
                said_at = session.mic_seconds()
                voice = say_into_mic(pulse, user, tmp_path / f"user{run}.wav")
                voice.wait(10)
                session.wait_heard(session.mic_seconds() + 1.0)
                hits = [t for t, _ in session.heard.hits if said_at <= t]
                found += bool(hits)
                stop.cancel("barge-in")  # as the app stops its answer (the rest of it would only cost time)
                player.join(30)
                session.speaker.drain()
                session.wait_heard(session.mic_seconds() + 0.5)
                session.speaking = False
                session.heard.hits.clear()
        finally:
            session.close()
    with capsys.disabled():
        print(
            f"\nbarge-in found {found}/{BARGE_INS} (echo at {60 * np.log10(volume):.0f} dB, user at "
            f"-9..-3 dB, normal threshold; {barge_in.vetoed} own-voice vetoes)"
        )
    # the target is >= 90 %; measured 10/10 at -18 dB in every run and 7-10/10 at -6 dB, where the user's voice
    # competes with an echo as loud (docs/wake-word.md); the front end alone found 8/10 and 4/10
    assert found >= least

"""Endpointing: the pure segmenter with time passed in, the pre-roll ring, follow-up detection, and Silero VAD +
segmenter (+ the wake word and pre-roll) on real synthesized speech."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.config.settings import EndpointSettings, WakeSettings
from appliance.listening.preroll import Preroll
from appliance.listening.segmenter import Outcome, Segmenter
from appliance.listening.vad import SileroVad
from appliance.ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from appliance.text.followup import expects_reply
from appliance.wake.oww import OpenWakeWordDetector
from standin.voice import concat, noise, room, synth, voiced_span


def feed(segmenter, pattern, step=0.08):
    """pattern: a string of 'S' (speech) and '.' (silence), one character per step. Returns (outcome, t)."""
    for i, c in enumerate(pattern):
        outcome = segmenter.process(c == "S", step)
        if outcome != Outcome.CONTINUE:
            return outcome, round((i + 1) * step, 3)
    return Outcome.CONTINUE, round(len(pattern) * step, 3)


# --- the segmenter, time passed in ---------------------------------------------------------------------


def test_trailing_silence_ends_the_recording():
    s = Segmenter(trailing_silence=0.7, start_timeout=5, max_seconds=15, min_speech_seconds=0.15)
    outcome, t = feed(s, "..." + "S" * 20 + "." * 20, step=0.1)
    assert outcome == Outcome.SPEECH_ENDED
    assert t == pytest.approx(0.3 + 2.0 + 0.7)
    assert s.speech_start == pytest.approx(0.3) and s.speech_end == pytest.approx(2.3)


def test_pauses_shorter_than_the_trailing_silence_do_not_end_it():
    s = Segmenter(trailing_silence=0.7)
    outcome, t = feed(s, "SSSSS" + "......" + "SSSSS" + "." * 10, step=0.1)
    assert outcome == Outcome.SPEECH_ENDED and t == pytest.approx(1.6 + 0.7)
    assert s.speech_start == pytest.approx(0.0) and s.speech_end == pytest.approx(1.6)


def test_trailing_silence_is_configurable():
    for silence, expected in ((0.4, 1.0 + 0.4), (1.5, 1.0 + 1.5)):
        s = Segmenter(trailing_silence=silence)
        assert feed(s, "S" * 10 + "." * 30, step=0.1) == (Outcome.SPEECH_ENDED, pytest.approx(expected))


def test_no_speech_within_the_start_timeout():
    s = Segmenter(start_timeout=5.0)
    assert feed(s, "." * 100, step=0.1) == (Outcome.NO_SPEECH, 5.0)
    assert s.speech_start is None and s.speech_end is None and not s.started


def test_speech_that_starts_before_the_timeout_is_waited_for():
    s = Segmenter(start_timeout=1.0, trailing_silence=0.7)
    outcome, t = feed(s, "." * 9 + "S" * 30 + "." * 10, step=0.1)
    assert outcome == Outcome.SPEECH_ENDED and t == pytest.approx(0.9 + 3.0 + 0.7)


def test_short_blips_do_not_start_a_question():
    s = Segmenter(start_timeout=2.0, min_speech_seconds=0.15)
    outcome, _ = feed(s, ("S" + "...") * 10, step=0.1)  # 0.1 s clicks never reach 0.15 s
    assert outcome == Outcome.NO_SPEECH
    assert s.speech_start is None and not s.started


def test_a_blip_before_the_question_does_not_move_its_start():
    s = Segmenter(min_speech_seconds=0.15)
    outcome, _ = feed(s, "S..." + "SSSSS" + "." * 8, step=0.1)
    assert outcome == Outcome.SPEECH_ENDED
    assert s.speech_start == pytest.approx(0.4) and s.speech_end == pytest.approx(0.9)


def test_hard_cap_sends_what_was_recorded():
    s = Segmenter(max_seconds=15.0)
    assert feed(s, "S" * 300, step=0.1) == (Outcome.MAX_LENGTH, 15.0)
    assert s.speech_start == 0.0 and s.speech_end == pytest.approx(15.0)


def test_hard_cap_without_speech_is_no_speech():
    s = Segmenter(start_timeout=30.0, max_seconds=3.0)
    assert feed(s, "S..." * 20, step=0.1) == (Outcome.NO_SPEECH, 3.0)


def test_reset_starts_over():
    s = Segmenter()
    feed(s, "S" * 10)
    s.reset()
    assert (s.elapsed, s.started, s.speech_start, s.speech_end) == (0.0, False, None, None)


def test_frame_sized_steps_add_up_exactly():
    """Sums of 80 ms frames are not exact in binary floating point; the configured times still hold."""
    s = Segmenter(trailing_silence=0.72, min_speech_seconds=0.24)
    assert feed(s, "SSS" + "." * 20) == (Outcome.SPEECH_ENDED, pytest.approx(0.24 + 0.72))
    s = Segmenter(start_timeout=0.4)
    assert feed(s, "." * 10) == (Outcome.NO_SPEECH, pytest.approx(0.4))
    s = Segmenter(max_seconds=2.4)
    assert feed(s, "S" * 40) == (Outcome.MAX_LENGTH, pytest.approx(2.4))


# --- pre-roll and follow-up ----------------------------------------------------------------------------


def test_preroll_keeps_the_last_half_second():
    p = Preroll(0.5)
    for i in range(20):
        p.push(np.full(FRAME_SAMPLES, i, dtype=np.int16))
    frames = p.take()
    assert len(frames) == round(0.5 / FRAME_SECONDS) and frames[-1][0] == 19 and frames[0][0] == 14
    assert p.take() == []
    p.push(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    p.clear()
    assert p.take() == []
    off = Preroll(0.0)
    off.push(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    assert off.take() == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Which city do you mean?", True),
        ("It is sunny. Anything else?  \n", True),
        ('Did you say "Paris?"', True),
        ("**Shall I set it?**", True),
        ("Really?!", True),
        ("(Is that all?)", True),
        ("要我帮你设置吗？", True),
        ("Isn't that amazing?", True),  # rhetorical: counted as a question, documented
        ("It is sunny.", False),
        ("Is it raining? No, it is sunny.", False),
        ("Stop!", False),
        ("The what? The bridge.", False),
        ("", False),
        ("   ", False),
    ],
)
def test_follow_up_when_the_answer_asks_back(text, expected):
    assert expects_reply(text) is expected


# --- VAD + segmenter on real speech --------------------------------------------------------------------


def endpoint(audio, vad=None, **kw):
    """Run Silero VAD + the segmenter over ``audio``: (outcome, seconds when it ended, segmenter)."""
    vad = vad or SileroVad()
    vad.reset()
    seg = Segmenter(**kw)
    threshold = EndpointSettings().vad_threshold
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        outcome = seg.process(vad.speech_probability(audio[i : i + FRAME_SAMPLES]) >= threshold, FRAME_SECONDS)
        if outcome != Outcome.CONTINUE:
            return outcome, (i + FRAME_SAMPLES) / SAMPLE_RATE, seg
    return Outcome.CONTINUE, len(audio) / SAMPLE_RATE, seg


@pytest.mark.slow
def test_vad_hears_speech_not_the_room_and_repeats_itself_after_reset():
    speech = synth("Turn on the kitchen lights, please.")
    audio = concat(noise(1.0, -50, seed=6), speech, noise(1.0, -50, seed=7))
    vad = SileroVad()

    def probabilities():
        vad.reset()
        return [
            vad.speech_probability(audio[i : i + FRAME_SAMPLES])
            for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)
        ]

    first = probabilities()
    assert probabilities() == first
    start, end = voiced_span(speech)
    per_second = round(1 / FRAME_SECONDS)
    room_frames = first[: per_second - 2] + first[-per_second + 5 :]
    voiced = first[round((1.0 + start) / FRAME_SECONDS) + 2 : round((1.0 + end) / FRAME_SECONDS) - 2]
    assert max(room_frames) < 0.2
    assert np.mean([p >= 0.5 for p in voiced]) > 0.8
    with pytest.raises(ValueError, match="1280 int16 samples"):
        vad.speech_probability(np.zeros(FRAME_SAMPLES, dtype=np.float64))


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["piper", "espeak"])
@pytest.mark.parametrize(
    "text",
    ["What is the tallest mountain in the world?", "What's the weather tomorrow, and should I take an umbrella?"],
)
def test_recording_ends_within_a_second_of_the_end_of_speech(voice, text):
    question = synth(text, voice=voice)
    start, end = voiced_span(question)
    audio = concat(noise(0.5, -55, seed=4), question, noise(3.0, -55, seed=5))
    outcome, t, seg = endpoint(audio, trailing_silence=0.7)
    assert outcome == Outcome.SPEECH_ENDED
    assert 0.5 + end < t <= 0.5 + end + 1.0  # not cut short (a comma pause is not an end), and not late
    assert seg.speech_start is not None and abs(seg.speech_start - (0.5 + start)) < 0.25
    assert abs(seg.speech_end - (0.5 + end)) < 0.4


@pytest.mark.slow
def test_start_timeout_on_a_quiet_room_and_the_hard_cap_on_a_long_utterance():
    outcome, t, _ = endpoint(noise(8.0, -50, seed=5), start_timeout=5.0)
    assert outcome == Outcome.NO_SPEECH and t == pytest.approx(5.0, abs=0.1)
    talk = concat(*[synth("I keep talking about mountains and rivers and seas,", speed=s) for s in (1.0, 1.1, 0.9)])
    assert len(talk) / SAMPLE_RATE > 7.0
    outcome, t, seg = endpoint(talk, max_seconds=6.0)
    assert outcome == Outcome.MAX_LENGTH and t == pytest.approx(6.0, abs=0.1) and seg.started


def trimmed(pcm: np.ndarray) -> np.ndarray:
    """Only the voiced part: the synthesizers pad every phrase with silence, people running words
    together do not."""
    start, end = voiced_span(pcm)
    return pcm[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_preroll_keeps_the_first_syllable_when_the_user_does_not_pause(voice):
    """The appliance's flow: while idle each frame goes to the pre-roll ring and the wake word detector; on a
    wake the recording starts with the ring's frames, then VAD + segmenter decide its end. Said without a
    pause, the wake fires 0.04-0.12 s into "what" (measured): without the pre-roll the question would start
    mid-word."""
    wake_words = trimmed(synth("Hey Jarvis", voice=voice))
    question = trimmed(synth("what time is it?", voice=voice))
    lead = 0.6
    audio = room(concat(wake_words, question), lead=lead, tail=2.5)
    q_start = lead + len(wake_words) / SAMPLE_RATE
    q_end = q_start + len(question) / SAMPLE_RATE

    detector, vad = OpenWakeWordDetector(WakeSettings()), SileroVad()
    preroll = Preroll(WakeSettings().preroll_seconds)
    e = EndpointSettings()
    segmenter = Segmenter(e.trailing_silence, e.start_timeout, e.max_seconds, e.min_speech_seconds)
    recording: list[np.ndarray] = []
    woke_at = rec_start = rec_end = None
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame, t = audio[i : i + FRAME_SAMPLES], (i + FRAME_SAMPLES) / SAMPLE_RATE
        if woke_at is None:
            preroll.push(frame)
            if detector.process(frame):
                woke_at = t
                recording = preroll.take()
                rec_start = t - len(recording) * FRAME_SECONDS
            continue
        recording.append(frame)
        if segmenter.process(vad.speech_probability(frame) >= e.vad_threshold, FRAME_SECONDS) != Outcome.CONTINUE:
            rec_end = t
            break
    assert woke_at is not None and woke_at > q_start  # the wake word fired after the question began...
    assert rec_start < q_start - 0.3  # ...yet the recording holds its first syllable
    assert rec_end is not None and q_end < rec_end <= q_end + 1.0
    # the recording is the same audio the microphone delivered
    recorded = np.concatenate(recording)
    offset = round(rec_start * SAMPLE_RATE)
    assert np.array_equal(recorded, audio[offset : offset + len(recorded)])

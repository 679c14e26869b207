"""Speaking an answer as it streams: pieces in, audio out, the next sentence synthesized while one plays.

A fetcher thread takes the assistant's pieces (:class:`~appliance.text.piece.Piece`: the sentences are the
assistant's, by their ``sentence_end`` marks) and synthesizes them one after another into jobs;
the calling thread plays each job's chunks as soon as they arrive. At most one piece is fetched ahead
of the one playing. With ``tts.first_flush_words`` the turn hands over fragments instead, and the first
request is the answer's first few words (or its first clause, :mod:`.first_words`), so the first audio
does not wait for the first sentence to end; the rest of that sentence and every later one go a sentence a
request, fetched while the piece before plays.

Faults: a sentence that fails before its first byte is retried once; one that breaks
mid-stream is cut there and the next sentence follows; a refused key or exhausted quota stops synthesis
for the turn (the text still goes out as events). Every wait is bounded and sees the cancel token.

The engine is any ``ports.Synthesizer`` (chosen by ``tts.provider``). Whatever it sends passes the checks of
:mod:`appliance.tts.check` before it is played or kept as an offline phrase: audio that is not audio is a
typed TTS error, reported once for the turn.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.audio.convert import apply_volume
from appliance.cancel import CancelToken
from appliance.config.settings import TtsSettings
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.events import Error, Sentence
from appliance.ports import Emit, Speaker, SpeechResult, Synthesizer
from appliance.speech.first_words import FirstWordsSplitter, Utterance
from appliance.speech.phrases import PhraseCache
from appliance.text.piece import Piece
from appliance.timings import TurnTimings
from appliance.tts.check import checked

log = logging.getLogger(__name__)

_END = object()
_POLL = 0.02  # how often blocked waits look at the cancel token


@dataclass
class _Job:
    sentence: str
    """The text synthesized (a sentence, or the first words of one)."""
    sentences: tuple[str, ...] = ()
    """The sentences that end with this job: heard when it is."""
    chunks: queue.Queue[Any] = field(default_factory=queue.Queue)  # bytes | np.ndarray | _END
    rate: int = 0
    played: bool = False


class SpeechPipeline:
    def __init__(
        self,
        synth: Synthesizer,
        speaker: Speaker,
        settings: TtsSettings,
        phrases: PhraseCache,
        *,
        volume: Callable[[], float] = lambda: 1.0,
        cache_phrases: bool = True,
    ) -> None:
        self.synth = synth
        self.speaker = speaker
        self.settings = settings
        self.phrases = phrases
        self.volume = volume
        self.cache_phrases = cache_phrases
        self._synthesis_worked = False
        self._reported_fatal = False
        self._caching = threading.Lock()
        self._closing = CancelToken()
        self._cacher: threading.Thread | None = None

    # --- ports.Speech ------------------------------------------------------------------------------

    @property
    def wants_fragments(self) -> bool:
        """The turn asks the assistant for fragments (a few words at a time) when the first words are to be
        spoken before the first sentence ends."""
        return self.settings.first_flush_words > 0

    def speak(
        self,
        pieces: Iterator[Piece],
        cancel: CancelToken,
        emit: Emit,
        on_first_audio: Callable[[], None] | None = None,
        *,
        deadline: Deadline | None = None,
        timings: TurnTimings | None = None,
    ) -> SpeechResult:
        """Only a piece that leaves its sentence unfinished is cut at the first words: a whole sentence (an
        announcement, or sentence mode's pieces) gains nothing by it."""
        result = SpeechResult()
        jobs: queue.Queue[Any] = queue.Queue()
        slots = threading.Semaphore(2)  # the piece playing + the one being fetched
        utterances = _utterances(pieces, self.settings.first_flush_words)
        fetcher = threading.Thread(
            target=self._fetch, args=(utterances, jobs, slots, cancel, emit, result), name="tts-fetch", daemon=True
        )
        fetcher.start()
        before: _Job | None = None
        try:
            while True:
                job = self._get(jobs, cancel)
                if job is None or job is _END:
                    break
                try:
                    if not job.sentence:  # a sentence that ended with the first words: heard with them
                        job.played = before is not None and before.played
                        if job.played:
                            result.spoken.extend(job.sentences)
                    elif not self._play_job(job, cancel, result, on_first_audio):
                        result.interrupted = True
                        break
                    before = job
                finally:
                    slots.release()
        finally:
            if cancel.cancelled:
                result.interrupted = True
            else:
                self.speaker.drain()
        # after a cancel the fetcher may still sit in a closing socket: don't wait for it
        fetcher.join(timeout=0.05 if cancel.cancelled else 1.0)
        if self._synthesis_worked:
            self._cache_phrases_soon()
        return result

    def phrase(self, key: str, cancel: CancelToken | None = None) -> None:
        pcm, rate = self.phrases.audio(key)
        self.speaker.play(apply_volume(pcm, self.volume()), rate, cancel)
        if cancel is None or not cancel.cancelled:
            self.speaker.drain()

    # --- fetching ----------------------------------------------------------------------------------

    def _fetch(
        self,
        pieces: Iterator[Utterance],
        jobs: queue.Queue[Any],
        slots: threading.Semaphore,
        cancel: CancelToken,
        emit: Emit,
        result: SpeechResult,
    ) -> None:
        previous = ""
        dead = False  # synthesis refused for this turn (key, quota, or unreachable)
        try:
            for piece in pieces:
                if cancel.cancelled:
                    return
                for sentence in piece.sentences:
                    if result.first_sentence is None:
                        result.first_sentence = time.monotonic()
                    emit(Sentence(sentence))
                if not self._acquire(slots, cancel):
                    return
                job = _Job(piece.text, piece.sentences, rate=self.synth.sample_rate)
                jobs.put(job)
                if not piece.text:  # the sentence ended with the first words (the player credits it)
                    if dead:
                        result.failed.extend(piece.sentences)
                    job.chunks.put(_END)
                    continue
                try:
                    if dead:
                        raise ApplianceError(ErrorKind.TTS, "speech synthesis is unavailable", stage="tts")
                    self._synthesize(job, previous, cancel, emit)
                    previous = (previous + " " + piece.text).strip()[-500:]
                except ApplianceError as exc:
                    if self._play_cached_phrase(job):
                        continue
                    result.failed.extend(piece.sentences)
                    if not dead:
                        dead = True
                        self._report(exc, emit)
                finally:
                    job.chunks.put(_END)
        except Cancelled:
            return
        except ApplianceError as exc:  # the assistant had nothing to say: the turn's error, raised by speak()
            jobs.put(_Failure(exc))
        except Exception as exc:  # a bug upstream must still end the turn as an error, not silence
            log.exception("the answer stream failed")
            jobs.put(_Failure(ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="assistant")))
        finally:
            jobs.put(_END)

    def _synthesize(self, job: _Job, previous: str, cancel: CancelToken, emit: Emit) -> None:
        for attempt in (1, 2):
            got_audio = False
            try:
                for chunk in checked(self.synth.stream(job.sentence, previous or None, cancel)):
                    got_audio = True
                    job.chunks.put(chunk)
                self._synthesis_worked = self._synthesis_worked or got_audio
                return
            except ApplianceError as exc:
                if got_audio:
                    # broke mid-sentence: what was heard stays heard, the next sentence follows
                    log.warning("speech for a sentence broke off: %s", exc.message)
                    emit(Error(exc.kind, "tts", f"sentence cut short: {exc.message}"))
                    return
                if attempt == 2 or not exc.retryable:
                    raise
                delay = min(2.0, exc.retry_after or 0.2)
                log.info("speech synthesis failed before the first byte (%s); retrying once", exc.kind.value)
                if cancel.wait(delay):
                    raise Cancelled(cancel.reason) from exc

    def _play_cached_phrase(self, job: _Job) -> bool:
        """The assistant's own apologies ("Sorry, I lost the connection.") are cached: say them anyway."""
        key = self.phrases.key_for(job.sentence)
        cached = self.phrases.get(key) if key else None
        if cached is None:
            return False
        pcm, rate = cached
        job.rate = rate
        job.chunks.put(pcm)
        return True

    def _report(self, exc: ApplianceError, emit: Emit) -> None:
        fatal = exc.kind in (ErrorKind.AUTH, ErrorKind.QUOTA)
        if fatal and self._reported_fatal:
            return  # said once; no need to fill the log on every answer
        self._reported_fatal = self._reported_fatal or fatal
        log.error("speech synthesis unavailable (%s): %s", exc.kind.value, exc.message)
        emit(Error(exc.kind, "tts", exc.message))

    def _cache_phrases_soon(self) -> None:
        """Synthesis works: make the offline phrases in the background (after the answer, so they never
        compete with it), until all are cached."""
        if not self.cache_phrases or not self.phrases.missing() or not self._caching.acquire(blocking=False):
            return

        def work() -> None:
            try:
                for key in self.phrases.missing():
                    if self._closing.cancelled:
                        return
                    data = b"".join(checked(self.synth.stream(self.phrases.texts[key], None, self._closing)))
                    pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").copy()
                    if len(pcm):
                        self.phrases.store(key, pcm, self.synth.sample_rate)
            except (ApplianceError, Cancelled) as exc:
                log.info("phrases not cached yet: %s", exc)
            finally:
                self._caching.release()

        self._cacher = threading.Thread(target=work, name="phrase-cache", daemon=True)
        self._cacher.start()

    def close(self, timeout: float = 3.0) -> None:
        """Stop caching phrases and wait (bounded) for the engine to let go: an on-device engine (piper's
        onnxruntime) must not be torn down by the interpreter's exit in the middle of a synthesis."""
        self._closing.cancel("closing")
        cacher = self._cacher
        if cacher is not None:
            cacher.join(timeout)

    # --- playing -----------------------------------------------------------------------------------

    def _play_job(
        self, job: _Job, cancel: CancelToken, result: SpeechResult, on_first_audio: Callable[[], None] | None
    ) -> bool:
        carry = b""
        played = False
        while True:
            item = self._get(job.chunks, cancel)
            if item is None:
                return False
            if item is _END:
                break
            if isinstance(item, np.ndarray):
                pcm = item
            else:
                data = carry + item
                cut = len(data) - len(data) % 2  # a chunk may end in the middle of a sample
                carry = data[cut:]
                pcm = np.frombuffer(data[:cut], dtype="<i2")
            if not len(pcm):
                continue
            if result.first_audio is None:
                result.first_audio = time.monotonic()
                if on_first_audio is not None:
                    on_first_audio()
            played = True
            if not self.speaker.play(apply_volume(pcm, self.volume()), job.rate, cancel):
                return False
        job.played = played
        if played:
            result.spoken.extend(job.sentences)
        return True

    @staticmethod
    def _get(q: queue.Queue[Any], cancel: CancelToken) -> Any:
        """Next item, or None when cancelled. Fetch-side failures are re-raised here."""
        while True:
            try:
                item = q.get(timeout=_POLL)
            except queue.Empty:
                if cancel.cancelled:
                    return None
                continue
            if isinstance(item, _Failure):
                raise item.error
            return item

    @staticmethod
    def _acquire(slots: threading.Semaphore, cancel: CancelToken) -> bool:
        while not slots.acquire(timeout=_POLL):
            if cancel.cancelled:
                return False
        return True


@dataclass
class _Failure:
    error: ApplianceError


def _utterances(pieces: Iterator[Piece], words: int) -> Iterator[Utterance]:
    """What to synthesize: the first words early, then a sentence a request. Runs on the fetcher thread (the
    assistant's stream is read there)."""
    splitter = FirstWordsSplitter(words)
    for piece in pieces:
        yield from splitter.feed(piece)
    yield from splitter.flush()

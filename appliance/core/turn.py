"""One turn, whole: transcribe → respond → speak, on a worker thread, reported back to the app as events.

A turn owns what its stages share: its :class:`CancelToken` (the button, mute, barge-in and shutdown fire
it), one :class:`TurnTimings` (every stage marks it; the ``turn`` event reports its spans) and one
:class:`Deadline` (``assistant.deadline`` seconds from the end of the question). It never changes state
itself: it posts :class:`TurnProgress` and :class:`TurnDone` and the state machine decides.

Announcements (``ctl say``) are a turn-like job here too: their own token, fired by the same events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from appliance.audio.earcons import announce_chime, error_tone, volume_tone
from appliance.cancel import CancelToken
from appliance.core.machine import AnnouncementDone, MachineEvent, Progress, TurnDone, TurnProgress
from appliance.deadline import Deadline
from appliance.errors import ApplianceError, Cancelled, ErrorKind
from appliance.events import Answer, Event, Info, Transcript
from appliance.local.offline.phrases import OFFLINE_HELP
from appliance.ports import Assistant, Preparable, Speech, Transcriber
from appliance.speech.phrases import SEARCH_FILLER, SEARCH_TIMEOUT
from appliance.text.followup import expects_reply
from appliance.text.piece import Piece
from appliance.timings import TurnTimings
from appliance.tools.confirm import is_yes

if TYPE_CHECKING:
    from appliance.core.parts import LocalAnswers
    from appliance.local.commands import Reply
    from appliance.local.offline.mode import OfflineMode

log = logging.getLogger(__name__)

#: A stage that does not honour the deadline itself is cancelled this long after it (a backstop).
DEADLINE_GRACE = 1.0

Earcon = Callable[[Callable[[], tuple[np.ndarray, int]], CancelToken | None], None]


@dataclass
class Stages:
    """The ports a turn runs, and how it reports."""

    transcriber: Transcriber | None
    assistant: Assistant | None
    speech: Speech | None
    emit: Callable[[Event], None]
    post: Callable[[MachineEvent], None]  # to the app's inbox
    report: Callable[[ApplianceError], None]  # a typed error: logged and emitted, secrets redacted
    earcon: Earcon
    local: LocalAnswers | None = None  # the device's own commands, answered without the model
    offline: OfflineMode | None = None  # when the cloud cannot be reached: commands recognised on the device


class TurnRunner:
    def __init__(
        self,
        turn: int,
        stages: Stages,
        *,
        deadline_seconds: float,
        follow_up: bool,
        confirming: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``confirming``: the utterance answers the last turn's confirmation question (it was heard in the
        listen right after it); any other turn drops a question left unanswered."""
        self.id = turn
        self.stages = stages
        self.cancel = CancelToken()  # the turn's: fired by the app (button, mute, barge-in, shutdown)
        self._stage = CancelToken()  # what the stages watch: the turn's token, or the deadline's backstop
        self.cancel.on_cancel(lambda: self._stage.cancel(self.cancel.reason))
        self.timings = TurnTimings(clock)
        self.timings.mark("end_of_speech")
        self.deadline = Deadline(deadline_seconds, clock, start=self.timings.get("end_of_speech") or -1.0)
        self._follow_up = follow_up
        self._confirming = confirming
        self._asked = False  # the answer ended with a confirmation question
        self._clock = clock
        self._thinking_again = False
        self._timed_out = False
        self.thread: threading.Thread | None = None

    def start(self, audio: np.ndarray | None, text: str | None = None) -> threading.Thread:
        self.thread = threading.Thread(target=self.run, args=(audio, text), name=f"turn-{self.id}", daemon=True)
        self.thread.start()
        return self.thread

    def stop(self, reason: str) -> None:
        self.cancel.cancel(reason)
        self.timings.set("done")

    def tool_round(self) -> None:
        """A tool is about to run: after a spoken filler the appliance shows it is thinking again."""
        if "first_audio" in self.timings and not self._thinking_again:
            self._thinking_again = True
            self.stages.post(TurnProgress(self.id, Progress.THINKING))

    def run(self, audio: np.ndarray | None, text: str | None) -> None:
        """transcribe → ask → speak. Never raises; always posts TurnDone."""
        outcome, follow_up = "answered", False
        backstop = threading.Timer(self.deadline.left() + DEADLINE_GRACE, self._deadline_passed)
        backstop.daemon = True
        backstop.start()
        try:
            outcome, follow_up = self._answer(audio, text)
        except Cancelled:
            outcome = self._failed(self._timeout_error()) if self._timed_out else "cancelled"
        except ApplianceError as exc:
            outcome = (
                "cancelled"
                if self.cancel.cancelled
                else self._failed(self._timeout_error() if self._timed_out else exc)
            )
        except Exception as exc:
            if self.cancel.cancelled:
                outcome = "cancelled"
            elif self._timed_out:
                outcome = self._failed(self._timeout_error())
            else:
                log.exception("turn %d failed", self.id)
                outcome = self._failed(ApplianceError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", stage="turn"))
        finally:
            backstop.cancel()
            self.timings.set("done")
            self.stages.post(TurnDone(self.id, outcome, follow_up, confirm=self._asked))

    def _answer(self, audio: np.ndarray | None, text: str | None) -> tuple[str, bool]:
        st, cancel, timings, deadline = self.stages, self._stage, self.timings, self.deadline
        if st.assistant is not None and not self._confirming:
            st.assistant.settle_confirmation(False)  # a new question: an unanswered confirmation is dropped
        if text is None:
            if st.transcriber is None:
                raise ApplianceError(ErrorKind.CONFIG, "no transcriber configured", stage="stt")
            assert audio is not None
            if st.offline is not None and not st.offline.online:
                return self._offline(audio)  # known to be offline: no waiting for the network to fail again
            try:
                text = st.transcriber.transcribe(audio, cancel, deadline=deadline, timings=timings)
            except ApplianceError as exc:
                if st.offline is None or not unreachable(exc) or cancel.cancelled:
                    raise
                st.report(exc)
                st.offline.unreachable(f"{exc.kind.value}: {exc.message}")
                return self._offline(audio)
            if st.offline is not None:
                st.offline.reachable()
            cancel.check()
            timings.mark("transcript")
            st.emit(Transcript(text))
            if not text.strip():
                self._settle(text)
                return "empty_transcript", False
        else:
            timings.mark("transcript")
            st.emit(Transcript(text))
        confirmed = self._settle(text)
        reply = None if confirmed else self._local_command(text)
        if reply is not None:
            return self._local_reply(text, reply)
        if st.assistant is None or st.speech is None:
            raise ApplianceError(ErrorKind.CONFIG, "no assistant or speech configured", stage="assistant")
        if deadline.expired():
            raise self._timeout_error()
        fragments = st.speech.wants_fragments  # streaming speech takes words
        sentences = st.assistant.respond(
            text,
            cancel,
            st.emit,
            deadline=deadline,
            timings=timings,
            fragments=fragments,
            filler=self._filler,
        )
        result = st.speech.speak(
            self._watch(sentences),
            cancel,
            st.emit,
            on_first_audio=self._first_audio,
            deadline=deadline,
            timings=timings,
        )
        if result.first_audio is not None:
            timings.set("first_audio", result.first_audio)
        if result.first_sentence is not None:
            timings.mark("first_sentence", result.first_sentence)
        answer = " ".join(result.spoken + result.failed).strip()
        st.emit(Answer(answer, interrupted=result.interrupted or cancel.cancelled))
        cancel.check()
        if result.failed and not result.spoken:
            st.earcon(error_tone, self.cancel)
        self._asked = st.assistant.pending_confirmation() is not None
        return "answered", self._asked or (self._follow_up and expects_reply(answer))

    def _settle(self, text: str) -> bool:
        """The answer to the last turn's confirmation question, if this turn is one: only a clear yes runs the
        call (in this turn's request); anything else, and every other turn, drops it. True on yes."""
        assistant = self.stages.assistant
        if assistant is None or not self._confirming:
            return False
        yes = is_yes(text)
        assistant.settle_confirmation(yes)
        self.stages.emit(Info("confirmation", "yes" if yes else "no"))
        return yes

    def _local_command(self, text: str) -> Reply | None:
        """The device's own command, carried out, if ``text`` is one. A fault here (the templates, the
        parser) is logged and the question goes to the model: local commands are a shortcut, never a
        reason for a turn to fail."""
        local = self.stages.local
        if local is None:
            return None
        try:
            return local.handle(text, self._stage, self.stages.emit)
        except Cancelled:
            raise
        except Exception:
            log.exception("local commands failed; the model takes the question")
            return None

    def _offline(self, audio: np.ndarray) -> tuple[str, bool]:
        """The cloud cannot be reached: the question is recognised on the device. A command is carried out and
        answered without the network; anything else gets the one offline sentence."""
        st = self.stages
        assert st.offline is not None
        self.timings.mark("offline")
        answer = st.offline.answer(audio, self._stage, st.emit)
        if answer.reply is not None:
            st.emit(Transcript(answer.heard.text))
            return self._local_reply(answer.heard.text, answer.reply)
        st.emit(Info("offline", "not a command"))
        self._first_audio()
        if st.speech is not None:
            st.speech.phrase(OFFLINE_HELP, self._stage)
        else:
            st.earcon(error_tone, self._stage)
        self._stage.check()
        return "offline", False

    def _local_reply(self, question: str, reply: Reply) -> tuple[str, bool]:
        """A local command ran: answer it with a cached phrase, a short sentence or a sound; the model is not
        asked, and the exchange joins the conversation for the next turn."""
        st, cancel = self.stages, self._stage
        self.timings.mark("local")
        st.emit(Info("local_command", reply.command.intent.value))
        if reply.ends_turn:
            return "answered", False
        if reply.sound:
            self._first_audio()
            st.earcon(volume_tone, cancel)
        elif reply.clips and st.speech is not None:  # offline: the reply's words from cached clips
            self._first_audio()
            for clip in reply.clips:
                st.speech.phrase(clip, cancel)
                cancel.check()
        elif reply.phrase is not None and st.speech is not None:
            self._first_audio()
            st.speech.phrase(reply.phrase, cancel)
        elif reply.text and st.speech is not None:
            result = st.speech.speak(iter([Piece.whole(reply.text)]), cancel, st.emit, on_first_audio=self._first_audio)
            if result.first_audio is not None:
                self.timings.set("first_audio", result.first_audio)
        st.emit(Answer(reply.text, interrupted=cancel.cancelled))
        if reply.remember and st.assistant is not None:  # done, heard or not: the model should know
            st.assistant.remember(question, reply.text)
        cancel.check()
        return "answered", False

    def _watch(self, pieces: Iterator[Piece]) -> Iterator[Piece]:
        for piece in pieces:
            self.timings.mark("first_sentence")
            if self._thinking_again:  # the answer goes on after a tool round
                self._thinking_again = False
                self.stages.post(TurnProgress(self.id, Progress.SPEAKING))
            yield piece

    def _filler(self, cancel: CancelToken) -> None:
        """A web search runs and nothing has been said: its short phrase (cached speech, or a soft sound until it
        is cached: never synthesized for the turn), played between the answer's pieces, so never over them.
        The appliance shows it speaking, then thinking again until the answer."""
        st = self.stages
        if st.speech is None or "first_audio" in self.timings or cancel.cancelled:
            return
        self.timings.mark("filler")
        st.post(TurnProgress(self.id, Progress.SPEAKING))
        try:
            st.speech.phrase(SEARCH_FILLER, cancel)
        finally:
            if not cancel.cancelled:  # a press or a barge-in during the filler: the turn is over
                self._thinking_again = True
                st.post(TurnProgress(self.id, Progress.THINKING))

    def _first_audio(self) -> None:
        self.timings.mark("first_audio")
        self.stages.post(TurnProgress(self.id, Progress.SPEAKING))

    def _deadline_passed(self) -> None:
        if "first_audio" not in self.timings and not self.cancel.cancelled:
            self._timed_out = True
            self._stage.cancel("deadline")

    def _timeout_error(self) -> ApplianceError:
        return ApplianceError(ErrorKind.TIMEOUT, f"no answer within {self.deadline.seconds:g} s", stage="turn")

    def _failed(self, exc: ApplianceError) -> str:
        if self.cancel.cancelled:
            return "cancelled"
        self.stages.report(exc)
        if self.stages.offline is not None and unreachable(exc):  # the next question goes to the device at once
            self.stages.offline.unreachable(f"{exc.kind.value}: {exc.message}")
        self._spoken_fallback(exc)
        return "error"

    def _spoken_fallback(self, exc: ApplianceError) -> None:
        """Say what went wrong with a locally available phrase (or an earcon); never raises."""
        if self.cancel.cancelled:
            return
        key = "offline" if exc.kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT) else "error"
        if exc.stage == "web_search":
            key = SEARCH_TIMEOUT  # the internet is there; the search was too slow
        self.stages.post(TurnProgress(self.id, Progress.SPEAKING))
        try:
            if self.stages.speech is not None:
                self.stages.speech.phrase(key, self.cancel)
            else:
                self.stages.earcon(error_tone, self.cancel)
        except Exception:
            log.exception("could not play the %s phrase", key)
            self.stages.earcon(error_tone, self.cancel)

    def spans_ms(self) -> dict[str, float]:
        return self.timings.spans_ms()


class Announcement:
    """``ctl say``: speaks a text under its own token, which the app fires like a turn's."""

    def __init__(self, job: int, text: str, stages: Stages, *, chime: bool = False) -> None:
        self.job = job
        self.text = text
        self.stages = stages
        self.chime = chime
        self.cancel = CancelToken()
        self.thread = threading.Thread(target=self._run, name=f"announce-{job}", daemon=True)

    def start(self) -> threading.Thread:
        self.thread.start()
        return self.thread

    def stop(self, reason: str) -> None:
        self.cancel.cancel(reason)

    def _run(self) -> None:
        try:
            if self.chime:
                self.stages.earcon(announce_chime, self.cancel)
            if self.stages.speech is not None and not self.cancel.cancelled:
                self.stages.speech.speak(iter([Piece.whole(self.text)]), self.cancel, self.stages.emit)
        except Cancelled:
            pass  # stopped by the button, mute, a new turn or shutdown: nothing to report
        except Exception as exc:
            if not self.cancel.cancelled:
                self.stages.report(ApplianceError(ErrorKind.TTS, f"announcement failed: {exc}", stage="say"))
        finally:
            self.stages.post(AnnouncementDone(self.job))


def unreachable(exc: ApplianceError) -> bool:
    """Whether a failure says the cloud cannot be reached (not that it refused or broke): the connection
    failed, or the first request of the turn timed out."""
    return exc.kind is ErrorKind.CONNECTION or (exc.kind is ErrorKind.TIMEOUT and exc.stage in ("stt", "realtime"))


def prepare_connections(*stages: Assistant | Speech | None) -> None:
    """A turn opened: the connections it will use (model, speech) open now, in the background, so its first
    request pays no DNS, TCP, TLS or handshake. Off the loop: a cloud client may still be loading."""

    def run() -> None:
        for stage in stages:
            if not isinstance(stage, Preparable):
                continue
            try:
                stage.prepare()
            except Exception as exc:  # a head start missed, nothing more: the turn opens its own
                log.info("preparing a connection failed: %s", exc)

    threading.Thread(target=run, name="prepare", daemon=True).start()

"""The question's transcription while the user speaks, as the main loop drives it.

A transcriber that streams (:class:`appliance.ports.LiveTranscriber`) gets the turn's audio from the moment the
turn opens, never before. If it can also commit the speech so far (:class:`appliance.ports.SegmentingTranscriber`),
the end-of-turn policy asks it for the transcript at a pause it judged finished: the text comes back through the
inbox, in order with the frames, to :meth:`appliance.listening.listener.Listener.heard_text`. With a batch
transcriber all of this is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from appliance.ports import LiveTranscriber, SegmentingTranscriber, Transcriber


@dataclass(frozen=True)
class HeardText:
    """Inbox message: the transcript of the speech up to the pause ``token`` names."""

    text: str
    token: object


class LiveTranscript:
    def __init__(self, transcriber: Transcriber | None, post: Callable[[HeardText], None]) -> None:
        """``post`` queues a message for the main loop (from the transcriber's socket thread)."""
        self._transcriber = transcriber if isinstance(transcriber, LiveTranscriber) else None
        self._segments = transcriber if isinstance(transcriber, SegmentingTranscriber) else None
        self._post = post

    @property
    def streaming(self) -> bool:
        return self._transcriber is not None

    @property
    def segments(self) -> bool:
        """It can transcribe the speech so far at a pause (the end-of-turn policy's transcript check)."""
        return self._segments is not None

    def begin(self, recorded: list[np.ndarray]) -> None:
        """The turn opened: stream from its first frame (the pre-roll included)."""
        if self._transcriber is None:
            return
        self._transcriber.begin()
        for frame in recorded:
            self._transcriber.feed(frame)

    def feed(self, frame: np.ndarray) -> None:
        if self._transcriber is not None:
            self._transcriber.feed(frame)

    def discard(self) -> None:
        if self._transcriber is not None:
            self._transcriber.discard()

    def request_text(self, token: object) -> bool:
        """Commit the speech so far; its transcript reaches the loop as a :class:`HeardText` with ``token``.
        False when it cannot (no live session): the policy then decides without it."""
        if self._segments is None:
            return False
        return self._segments.commit_segment(lambda text: self._post(HeardText(text, token)))

    def ended(self, speech_after_commit: bool) -> None:
        """The recording ended; ``speech_after_commit`` False: nothing was said after the last commit, so the
        trailing silence is not sent for transcription (the segments already hold the whole question)."""
        if self._segments is not None:
            self._segments.set_commit_tail(speech_after_commit)

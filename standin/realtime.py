"""The stand-in for OpenAI's realtime transcription WebSocket, on 127.0.0.1, for tests and ``scripts/run``.

It speaks the realtime API's protocol, as the ``openai`` SDK models it (``session.created`` on connect,
``session.update`` answered by ``session.updated``, ``input_audio_buffer.append`` / ``commit`` answered by
``input_audio_buffer.committed``, then transcription deltas and ``...transcription.completed``), enforces the API's
rules that matter here (a transcription session, 24 kHz PCM, base64 audio, no commit of less than 0.1 s, the bearer
key), and records what it received. Every commit becomes an item of its own, acknowledged at once and in order
(``previous_item_id`` chained) and transcribed after its own latency on a sender thread, so later commits are taken
meanwhile and the items may complete out of order, as the API's do. Each connection takes the next :class:`Script`
(transcripts, latencies, fault), or the default one.

Point the appliance at it with ``OpenAiEndpoint(key, base_url, websocket_base_url=fake.ws_base_url)`` (the
``OPENAI_WEBSOCKET_BASE_URL`` secret), or the SDK with ``openai.OpenAI(..., websocket_base_url=fake.ws_base_url)``.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from standin.ws_server import WsServer

RATE = 24000
MIN_COMMIT_SECONDS = 0.1  # the API refuses to commit less audio than this


class Fault(StrEnum):
    """Per connection; the commit faults hit only the commits after the first ``Script.fault_after``."""

    NONE = "none"
    REFUSE = "refuse"  # the upgrade is answered with an HTTP status (Script.status)
    CLOSE = "close"  # the socket closes after Script.close_after appends (counted from the fault_after-th commit)
    STALL = "stall"  # the commit is never answered (the socket stays open and keeps reading)
    ERROR = "error"  # the commit is answered with an error event
    WRONG_ORDER = "wrong_order"  # the transcript completes before the commit is acknowledged
    SLOW_HANDSHAKE = "slow_handshake"  # the upgrade is answered only after Script.handshake_seconds


@dataclass
class Script:
    transcript: str = "What is the weather like in Paris today?"
    transcripts: tuple[str, ...] = ()
    """One per commit, the last repeated if more commits come; empty: ``transcript`` for every commit."""
    deltas: int = 4
    """Each item's transcript arrives in this many deltas before its completion."""
    latency: float = 0.0
    """Seconds between a commit and its first delta (the cloud's transcription time)."""
    latencies: tuple[float, ...] = ()
    """One per commit, the last repeated; empty: ``latency`` for every commit. A later commit with a shorter
    latency completes first."""
    phrases: tuple[str, ...] = ()
    """The question's phrases in the order spoken, each a stretch of speech ended by a pause of at least
    ``phrase_gap``: a commit is then transcribed as the phrases whose speech it holds and no earlier commit
    did, found in the audio itself, so the text follows wherever the client chose to commit (overrides
    ``transcript``/``transcripts``)."""
    phrase_gap: float = 0.5
    phrase_min: float = 0.6
    """Shorter stretches of sound are not phrases: the tail of the wake word in the turn's pre-roll (0.5 s by
    default), a knock."""
    fault: Fault = Fault.NONE
    fault_after: int = 0
    """Commits answered normally before the fault: STALL leaves the later ones unanswered, ERROR answers the
    next with an error event, WRONG_ORDER completes it before acknowledging it, CLOSE starts counting appends."""
    status: int = 401
    close_after: int = 3
    handshake_seconds: float = 30.0
    """SLOW_HANDSHAKE: how long the upgrade waits (past the client's open timeout: a stalled handshake)."""

    def transcript_for(self, commit: int) -> str:
        return self.transcripts[min(commit, len(self.transcripts) - 1)] if self.transcripts else self.transcript

    def latency_for(self, commit: int) -> float:
        return self.latencies[min(commit, len(self.latencies) - 1)] if self.latencies else self.latency


@dataclass
class Session:
    """What one connection sent, for assertions."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    """The events the fake sent, in the order they left (the last may have met a closed socket)."""
    audio: bytearray = field(default_factory=bytearray)
    """Everything appended, committed or not."""
    commits: list[float] = field(default_factory=list)
    """Seconds of audio in each accepted commit."""
    config: dict[str, Any] | None = None
    closed: threading.Event = field(default_factory=threading.Event)
    phrases_heard: int = 0
    """With ``Script.phrases``: how many were transcribed by the commits so far."""

    def types(self) -> list[str]:
        return [str(m.get("type")) for m in self.messages]

    @property
    def audio_seconds(self) -> float:
        return len(self.audio) / 2 / RATE

    def sent_types(self) -> list[str]:
        return [str(m.get("type")) for m in self.sent]


class _Outbox:
    """Sends one connection's events at their due times from a thread of its own, so the connection keeps
    reading (and takes the next commit) while an earlier item is still being transcribed. Events due at the
    same time leave in the order they were queued."""

    def __init__(self, ws: ServerConnection, session: Session) -> None:
        self._ws = ws
        self._session = session
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="fake-realtime-send", daemon=True)
        self._thread.start()

    def send(self, message: str, delay: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), message))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(1.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        message = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            self._session.sent.append(json.loads(message))  # before it leaves: a test reads it once it arrived
            try:
                self._ws.send(message)
            except ConnectionClosed:
                return  # the client went away, or the fault closed the socket


class FakeRealtime(WsServer):
    thread_name = "fake-realtime"
    serve_options: ClassVar[dict[str, Any]] = {"ping_interval": None, "close_timeout": 0.2, "max_size": None}

    def __init__(self, api_key: str = "test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.sessions: list[Session] = []
        self.refused = 0
        self.handshakes = 0
        """Upgrade requests received, answered or not."""
        self._stopping = threading.Event()
        self._scripts: deque[Script] = deque()
        self._default = Script()
        self._lock = threading.Condition()
        self._ids = itertools.count(1)

    # --- control --------------------------------------------------------------------------------------

    def script(self, *scripts: Script) -> None:
        """The next connections follow these scripts, in order; later ones follow ``default``."""
        with self._lock:
            self._scripts.extend(scripts)

    def default(self, script: Script) -> None:
        self._default = script

    def stop(self) -> None:
        self._stopping.set()  # first: a slow handshake lets go of its handler, which shutdown waits for
        super().stop()

    def wait_sessions(self, count: int, timeout: float = 5.0) -> list[Session]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.sessions) >= count, timeout):
                raise TimeoutError(f"{len(self.sessions)} realtime sessions, expected {count}")
            return list(self.sessions)

    # --- the server -----------------------------------------------------------------------------------

    def _next_script(self) -> Script:
        with self._lock:
            return self._scripts.popleft() if self._scripts else self._default

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            self.handshakes += 1
        parts = urlsplit(request.path)
        if parts.path != "/v1/realtime":
            return connection.respond(404, "not found\n")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return connection.respond(401, "invalid api key\n")
        script = self._next_script()
        if script.fault is Fault.SLOW_HANDSHAKE:
            self._stopping.wait(script.handshake_seconds)
        if script.fault is Fault.REFUSE:
            with self._lock:
                self.refused += 1
            return connection.respond(script.status, "refused\n")
        connection.script = script  # type: ignore[attr-defined]
        return None

    def _event(self, kind: str, **fields: Any) -> str:
        return json.dumps({"type": kind, "event_id": f"event_{next(self._ids)}", **fields})

    def _handle(self, ws: ServerConnection) -> None:
        script: Script = getattr(ws, "script", self._default)
        assert ws.request is not None
        parts = urlsplit(ws.request.path)
        session = Session(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in ws.request.headers.raw_items()})
        with self._lock:
            self.sessions.append(session)
            self._lock.notify_all()
        out = _Outbox(ws, session)
        appends = 0  # since the fault_after-th commit (CLOSE)
        pending = 0  # bytes appended since the last accepted commit (the API's input buffer)
        previous: str | None = None
        try:
            if session.query.get("intent") != ["transcription"]:
                out.send(self._error("invalid_request_error", "missing_intent", "intent=transcription expected"))
            out.send(self._event("session.created", session={"type": "transcription", "id": "sess_fake"}))
            for raw in ws:
                message = json.loads(raw)
                session.messages.append(message)
                kind = message.get("type")
                if kind == "session.update":
                    problem = self._check_config(message.get("session") or {})
                    if problem:
                        out.send(self._error("invalid_request_error", "invalid_value", problem))
                        continue
                    session.config = message["session"]
                    out.send(self._event("session.updated", session=session.config))
                elif kind == "input_audio_buffer.append":
                    try:
                        audio = base64.b64decode(message.get("audio", ""), validate=True)
                    except binascii.Error:
                        out.send(self._error("invalid_request_error", "invalid_value", "audio is not base64"))
                        continue
                    session.audio += audio
                    pending += len(audio)
                    if len(session.commits) >= script.fault_after:
                        appends += 1
                    if script.fault is Fault.CLOSE and appends >= script.close_after:
                        ws.close(1011, "internal error")
                        return
                elif kind == "input_audio_buffer.commit":
                    if pending // 2 < RATE * MIN_COMMIT_SECONDS:
                        ms = pending / 2 / RATE * 1000
                        problem = f"buffer too small: expected at least 100ms of audio, but buffer only has {ms:.2f}ms"
                        out.send(self._error("invalid_request_error", "input_audio_buffer_commit_empty", problem))
                        continue
                    commit = len(session.commits)
                    session.commits.append(pending / 2 / RATE)
                    pending = 0
                    previous = self._answer(out, script, session, commit, previous, session.commits[-1])
                else:
                    out.send(self._error("invalid_request_error", "unknown_event", f"unknown event {kind!r}"))
        except ConnectionClosed:
            pass  # the client went away: what it sent is recorded
        finally:
            out.close()
            session.closed.set()

    @staticmethod
    def _heard(script: Script, session: Session) -> str:
        """The phrases whose speech the audio so far holds and no earlier commit transcribed."""
        pcm = np.frombuffer(bytes(session.audio), dtype="<i2")
        runs = speech_runs(pcm, RATE, script.phrase_gap, script.phrase_min)
        count = min(runs, len(script.phrases))
        text = " ".join(script.phrases[session.phrases_heard : count])
        session.phrases_heard = max(session.phrases_heard, count)
        return text

    def _answer(
        self, out: _Outbox, script: Script, session: Session, commit: int, previous: str | None, seconds: float
    ) -> str | None:
        """Acknowledge and transcribe one commit; the item id the next commit follows."""
        faulty = script.fault is not Fault.NONE and commit >= script.fault_after
        if faulty and script.fault is Fault.STALL:
            return previous  # never answered, so never an item
        if faulty and script.fault is Fault.ERROR:
            out.send(self._error("server_error", "server_error", "The server had an error"))
            return previous
        item = f"item_{next(self._ids)}"
        committed = self._event("input_audio_buffer.committed", item_id=item, previous_item_id=previous)
        wrong_order = faulty and script.fault is Fault.WRONG_ORDER
        if not wrong_order:
            out.send(committed)
        latency = script.latency_for(commit)  # the cloud's transcription time, on the sender's clock
        text = self._heard(script, session) if script.phrases else script.transcript_for(commit)
        words = text.split(" ")
        n = max(1, min(script.deltas, len(words)))
        size = -(-len(words) // n)
        for i in range(0, len(words), size):
            delta = " ".join(words[i : i + size]) + (" " if i + size < len(words) else "")
            event = "conversation.item.input_audio_transcription.delta"
            out.send(self._event(event, item_id=item, content_index=0, delta=delta), latency)
        usage = {"type": "duration", "seconds": round(seconds, 3)}
        event = "conversation.item.input_audio_transcription.completed"
        out.send(self._event(event, item_id=item, content_index=0, transcript=text, usage=usage), latency)
        if wrong_order:
            out.send(committed, latency)
        return item

    def _error(self, kind: str, code: str, message: str) -> str:
        return self._event("error", error={"type": kind, "code": code, "message": message, "param": None})

    @staticmethod
    def _check_config(config: dict[str, Any]) -> str:
        if config.get("type") != "transcription":
            return "session.type must be 'transcription' on a transcription connection"
        audio_in = (config.get("audio") or {}).get("input") or {}
        fmt = audio_in.get("format") or {}
        if fmt.get("type") != "audio/pcm" or fmt.get("rate") != RATE:
            return "audio.input.format must be audio/pcm at 24000 Hz"
        if not (audio_in.get("transcription") or {}).get("model"):
            return "audio.input.transcription.model is required"
        return ""


def speech_runs(pcm: npt.NDArray[np.int16], rate: int, gap: float, least: float, level_db: float = -40.0) -> int:
    """Stretches of sound in ``pcm`` (20 ms windows louder than ``level_db`` dBFS) separated by at least ``gap``
    s of quiet and lasting ``least`` s or more, first loud window to last; one still going at the end counts."""
    win = rate // 50
    n = len(pcm) // win
    if n == 0:
        return 0
    frames = pcm[: n * win].astype(np.float64).reshape(n, win) / 32768.0
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > 10 ** (level_db / 20))
    if len(loud) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(loud) * win / rate > gap)  # a quiet stretch longer than ``gap`` between them
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]])
    return int(np.sum((ends - starts + 1) * win / rate >= least))

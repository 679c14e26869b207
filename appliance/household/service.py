"""The household as the app uses it: claims and arbitration for this device's wake words, announcements out
and in, over one multicast transport. Decisions and announcements reach the app through callbacks (the app
posts them to its inbox), so the app's loop stays the only one that changes its state.

Nothing is sent while idle: a claim when this device hears the wake word (twice, 15 ms apart, against a lost
packet; one nonce, so the copy counts once) and, if it wins, an "I answer", twice too (the losers wait for it,
and answer themselves if the winner died mid-window); an announcement on ``announce_all``, an ack for each one received.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from appliance.config.household import HouseholdSettings
from appliance.household.announce import RESENDS, WAIT, Delivery, Outgoing, Seen
from appliance.household.arbiter import Arbiter, Bid, Decision, Reason
from appliance.household.claim import (
    Ack,
    Announce,
    Claim,
    Message,
    Rejected,
    ReplayCache,
    Won,
    decode,
    derive_key,
    encode,
    new_nonce,
)
from appliance.household.level import LevelMeter
from appliance.household.transport import MulticastTransport

log = logging.getLogger(__name__)

COPIES = 2
COPY_GAP = 0.015
CONFIRM_SLACK = 0.25
"""A loser answers itself when the winner has not said it answers this long after the winner's window."""
PEER_MEMORY = 24 * 3600.0  # a device known to the announcer (expected to ack) for a day after it was heard


@dataclass(frozen=True)
class Heard:
    """An announcement from another device: play it, then call ``reply`` with "" (played) or the refusal."""

    announcer: str
    text: str
    chime: bool


OnDecision = Callable[[Decision], None]
OnAnnounce = Callable[[Heard], str]
"""Play a received announcement (blocking until the app took or refused it); returns "" or the refusal."""


def device_name(settings: HouseholdSettings) -> str:
    return settings.device or socket.gethostname().split(".")[0][:48] or "appliance"


class Household:
    def __init__(
        self,
        settings: HouseholdSettings,
        secret: str,
        on_decision: OnDecision,
        on_announce: OnAnnounce,
        *,
        device: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.device = device or device_name(settings)
        self.group = settings.group
        self._key = derive_key(secret, settings.group)
        self._on_decision, self._on_announce = on_decision, on_announce
        self._clock, self._wall = clock, wall
        self._tolerance_ms = int(settings.clock_tolerance_s * 1000)
        self._replays = ReplayCache(2 * self._tolerance_ms)
        self._arbiter = Arbiter(self.device, settings.window_ms / 1000)
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._confirm: threading.Timer | None = None
        self._pending: Decision | None = None  # lost, waiting for the winner to say it answers
        self._wins: dict[str, float] = {}  # device → when its last winning wake word was (this device's clock)
        self._woke = -math.inf  # this device's last wake word (its own or one it heard too)
        self._heard_too: tuple[float, float, float] | None = None  # a peer's claim: (loudest level, wake, until)
        self._heard_too_at: float | None = None  # the wake this device's next claim joins (it heard it too)
        self._scores: deque[float] = deque(maxlen=2)  # the wake model's best score on the last frames
        self._outgoing: dict[int, Outgoing] = {}
        self._acked = threading.Condition(self._lock)
        self._seen = Seen()
        self._announce_ids = int.from_bytes(new_nonce().to_bytes(8, "big")[:4], "big")
        self.peers: dict[str, float] = {}  # device → when last heard (monotonic)
        self.rejected: Counter[str] = Counter()
        self.transport = MulticastTransport(
            settings.multicast_group,
            settings.port,
            self._received,
            interface=settings.interface,
            loss=settings.simulate_loss,
            seed=seed,
            clock=clock,
        )
        self.meter = LevelMeter()

    def start(self) -> Household:
        self.transport.start()
        return self

    def close(self) -> None:
        with self._lock:
            for timer in (self._timer, self._confirm):
                if timer is not None:
                    timer.cancel()
        self.transport.close()

    # --- wake arbitration ----------------------------------------------------------------------------

    def hear(self, frame: np.ndarray) -> None:
        """Every microphone frame (the app's loop): how loud the wake word was is measured from them."""
        self.meter.feed(frame)

    def scored(self, score: float) -> bool:
        """The wake model's best score on the frame just heard, in idle with no wake word (the app's loop). True
        when another device has just claimed a wake word that this device heard too (its score reached
        ``heard_too_score``) and louder: the app then wakes as on its own wake word, and ``claim`` claims it as
        heard at the claimer's moment, so the nearest device answers even when its model fires a frame or two
        after a farther one's (or not at all)."""
        with self._lock:
            self._scores.append(score)
            pending = self._heard_too
            if pending is None:
                return False
            level, woke_at, until = pending
            if self._clock() > until:
                self._heard_too = None
                return False
            best = max(self._scores)
            if best < self.settings.heard_too_score:
                return False
            mine = self.meter.measure()[0]
            if round(mine, 1) <= round(level, 1):
                return False  # not louder: the claimer answers
            self._heard_too, self._heard_too_at = None, woke_at
        log.info(
            "household: heard a claimed wake word too (score %.2f, %.1f dB louder): claiming it", best, mine - level
        )
        return True

    def claim(self, score: float) -> None:
        """The wake word was just heard (the app's loop), with this score: claim it at the level measured."""
        level, snr = self.meter.measure()
        with self._lock:
            woke_at, self._heard_too_at = self._heard_too_at, None
        if woke_at is not None and self._clock() - woke_at > self._arbiter.window:
            woke_at = None  # that wake word is decided by now: this is a new one
        self.wake(level, snr, score, woke_at=woke_at)

    def keep_conversation(self, score: float) -> None:
        level, snr = self.meter.measure()
        self.keep(level, snr, score)

    def wake(self, level_db: float, snr_db: float, score: float, *, woke_at: float | None = None) -> None:
        """This device heard the wake word (at ``woke_at``, default now): claim it; the decision comes through
        ``on_decision`` within the window (at once if a peer already claimed it better)."""
        now = self._clock()
        woke_at = now if woke_at is None else woke_at
        bid = Bid(self.device, level_db, score, 0, snr_db)
        with self._lock:
            self._woke = woke_at
            decision = self._arbiter.begin(bid, woke_at, now)
            if decision is None:
                if not self._send_claim(bid, woke_at):
                    decision = self._arbiter.fail()
                else:
                    self._schedule()
        if decision is not None:
            self._decided(decision)

    def keep(self, level_db: float, snr_db: float, score: float) -> None:
        """The wake word interrupted this device's own conversation: it keeps it (no arbitration here), and
        tells the others, so they defer to it."""
        self._send_claim(Bid(self.device, level_db, score, 1, snr_db), self._clock())

    def _send_claim(self, bid: Bid, woke_at: float) -> bool:
        """False when the network is down."""

        def claim() -> Claim:
            offset = round((self._clock() - woke_at) * 1000)
            return Claim(bid.level_db, bid.snr_db, bid.score, offset, bid.priority)

        try:
            self._send_copies(claim)
        except OSError as exc:
            log.warning("household: the claim could not be sent (%s): answering alone", exc)
            return False
        return True

    def _send_copies(self, body: Callable[[], Claim | Won]) -> None:
        """The first copy now (raises OSError when the network is down); the others a moment later, off this
        thread, with the same nonce (a receiver takes one). ``body`` is made at each send: its offsets are
        from that moment."""
        nonce = new_nonce()

        def send() -> None:
            self._send(Message(self.group, self.device, self._wall_ms(), nonce, body()))

        send()
        for copy in range(1, COPIES):
            timer = threading.Timer(COPY_GAP * copy, self._quietly, (send,))
            timer.daemon = True
            timer.start()

    @staticmethod
    def _quietly(send: Callable[[], None]) -> None:
        try:
            send()
        except OSError:
            pass  # the first copy went

    def _schedule(self) -> None:
        deadline = self._arbiter.deadline()
        if deadline is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(max(0.0, deadline - self._clock()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            decision = self._arbiter.expire(self._clock())
            if decision is None and self._arbiter.open:  # woke a little early: wait the rest
                self._schedule()
        if decision is not None:
            self._decided(decision)

    def _decided(self, decision: Decision) -> None:
        """A winner says so (the losers wait for that) and answers; a loser stays quiet only once a device has
        said it answers this wake word, or answers itself if none does (the winner died mid-window)."""
        decision = replace(decision, ms=round((self._clock() - self._woke) * 1000, 1))
        if decision.won:
            woke = self._woke
            try:
                self._send_copies(lambda: Won(round((self._clock() - woke) * 1000)))
            except OSError as exc:
                log.warning("household: could not say this device answers (%s)", exc)
            self._on_decision(decision)
            return
        with self._lock:
            if self._answered(decision.winner_woke):
                confirmed = True
            else:
                confirmed = False
                self._pending = decision
                wait = max(0.0, decision.winner_woke + self._arbiter.window + CONFIRM_SLACK - self._clock())
                self._confirm = threading.Timer(wait, self._unconfirmed, (decision,))
                self._confirm.daemon = True
                self._confirm.start()
        if confirmed:
            self._on_decision(decision)

    def _unconfirmed(self, decision: Decision) -> None:
        with self._lock:
            if self._pending is not decision:
                return
            self._pending = None
        log.warning("household: %s won but never said it answers: answering instead", decision.winner)
        self._decided(replace(decision, won=True, reason=Reason.TAKEOVER, winner=self.device))

    def _listen_too(self, level: float, woke_at: float) -> None:
        """A peer claimed a wake word this device has not (under the lock): for the rest of the claimer's
        window, ``scored`` looks for it in this device's own frames."""
        if self.settings.heard_too_score <= 0 or self._arbiter.open or self._pending is not None:
            return
        match = self._arbiter.match
        if abs(woke_at - self._woke) <= match:
            return  # this device has claimed that wake word already (and decided it, or is deciding it)
        pending = self._heard_too
        if pending is not None and abs(pending[1] - woke_at) <= match:  # another claim for the same wake word
            level, woke_at = max(level, pending[0]), min(woke_at, pending[1])
        # it claims no later than the arbiter's margin before the claimer's window ends, as a device that woke on
        # its own must (that margin covers the datagram's way): its claim arrives before the claimer decides
        self._heard_too = (level, woke_at, woke_at + self._arbiter.window - self._arbiter.margin)

    def _answered(self, woke_at: float) -> bool:
        """Some device said it answers the wake word heard at ``woke_at`` (not necessarily the one this device
        lost to: that one may have lost to a third)."""
        return any(abs(at - woke_at) <= self._arbiter.match for at in self._wins.values())

    def _confirmed(self, device: str, woke_at: float) -> None:
        with self._lock:
            self._wins[device] = woke_at
            pending = self._pending
            if pending is None or abs(woke_at - pending.winner_woke) > self._arbiter.match:
                return
            self._pending = None
            if self._confirm is not None:
                self._confirm.cancel()
        self._on_decision(replace(pending, winner=device, ms=round((self._clock() - self._woke) * 1000, 1)))

    # --- announcements -------------------------------------------------------------------------------

    def announce_all(self, text: str, chime: bool = True, wait: float = WAIT) -> list[Delivery]:
        """Send ``text`` to every other device and wait for their acks (this device plays it itself: the
        caller's part). Returns one delivery per device that answered or is known and did not."""
        with self._lock:
            self._announce_ids = (self._announce_ids + 1) & 0xFFFFFFFF
            id = self._announce_ids
            now = self._clock()
            known = {d for d, at in self.peers.items() if now - at <= PEER_MEMORY}
            outgoing = self._outgoing[id] = Outgoing(id, known)
        message = Announce(id, text, chime)
        started = self._clock()
        try:
            self._send(Message(self.group, self.device, self._wall_ms(), new_nonce(), message))
            for resend in (*RESENDS, wait):
                with self._acked:
                    while not outgoing.complete():
                        left = started + resend - self._clock()
                        if left <= 0:
                            break
                        self._acked.wait(left)
                    if outgoing.complete() or resend == wait:
                        break
                self._send(Message(self.group, self.device, self._wall_ms(), new_nonce(), message))
        except OSError as exc:
            log.warning("household: the announcement could not be sent (%s)", exc)
        finally:
            with self._lock:
                self._outgoing.pop(id, None)
        return outgoing.deliveries()

    # --- receiving -----------------------------------------------------------------------------------

    def _received(self, data: bytes, address: tuple[str, int], arrived: float) -> None:
        now_ms = self._wall_ms()
        try:
            message = decode(data, self._key, self.group, now_ms, self._tolerance_ms)
            if message.device == self.device:
                return  # our own, looped back
            self._replays.check(message, now_ms)
        except Rejected as exc:
            if exc.reason != "replay":  # a replay is mostly a second copy; a flood is logged once per kind
                loudness = logging.INFO if not self.rejected[exc.reason] else logging.DEBUG
                log.log(loudness, "household: refused a datagram from %s: %s", address[0], exc)
            self.rejected[exc.reason] += 1
            return
        if not isinstance(message.body, Claim):
            with self._lock:
                self.peers[message.device] = arrived
        match message.body:
            case Claim(level, snr, score, offset, priority):
                bid = Bid(message.device, level, score, priority, snr)
                woke_at = arrived - offset / 1000
                with self._lock:  # a peer is known with its claim's effects, never before them
                    self.peers[message.device] = arrived
                    decision = self._arbiter.offer(bid, woke_at, arrived)
                    if decision is not None and self._timer is not None:
                        self._timer.cancel()
                    if priority == 0:
                        self._listen_too(level, woke_at)
                if decision is not None:
                    self._decided(decision)
            case Won(offset):
                self._confirmed(message.device, arrived - offset / 1000)
            case Announce(id, text, chime):
                self._heard(message.device, id, text, chime)
            case Ack(id, announcer, status):
                if announcer == self.device:
                    with self._acked:
                        outgoing = self._outgoing.get(id)
                        if outgoing is not None:
                            outgoing.ack(message.device, status)
                            self._acked.notify_all()

    def _heard(self, announcer: str, id: int, text: str, chime: bool) -> None:
        status = self._seen.get(announcer, id)
        if status is not None:  # a repeat: ack again, do not play again
            self._ack(announcer, id, status)
            return

        def play() -> None:
            try:
                result = self._on_announce(Heard(announcer, text, chime))
            except Exception as exc:
                log.exception("household: playing an announcement failed")
                result = f"error ({type(exc).__name__})"
            self._seen.put(announcer, id, result or "played")
            self._ack(announcer, id, result or "played")

        self._seen.put(announcer, id, "playing")  # a repeat while the app takes it is not played twice
        worker = threading.Thread(target=play, name="household-announce", daemon=True)
        worker.start()

    def _ack(self, announcer: str, id: int, status: str) -> None:
        if status == "playing":
            return  # the ack follows when the app has taken it
        try:
            self._send(Message(self.group, self.device, self._wall_ms(), new_nonce(), Ack(id, announcer, status)))
        except OSError as exc:
            log.warning("household: the ack could not be sent (%s)", exc)

    def _send(self, message: Message) -> None:
        self.transport.send(encode(message, self._key))

    def _wall_ms(self) -> int:
        return int(self._wall() * 1000)

"""The household (issue #30): the signed claims, the arbiter, and devices over real loopback multicast."""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time

import numpy as np
import pytest

from appliance.config.household import HouseholdSettings, secret_problem
from appliance.config.settings import SettingsError, load
from appliance.household.arbiter import Arbiter, Bid, Reason
from appliance.household.claim import (
    MAX_PACKET,
    Ack,
    Announce,
    Claim,
    Message,
    Rejected,
    ReplayCache,
    decode,
    derive_key,
    encode,
)
from appliance.household.level import LevelMeter
from appliance.household.service import Household

SECRET = "correct horse battery staple"
KEY = derive_key(SECRET, "home")
NOW = 1_800_000_000_000  # ms
TOL = 300_000


def message(body=None, device="kitchen", sent=NOW, nonce=7, group="home"):
    return Message(group, device, sent, nonce, body or Claim(-20.0, 30.0, 0.9, 12))


def rejected(data: bytes, key: bytes = KEY, now: int = NOW) -> str:
    with pytest.raises(Rejected) as info:
        decode(data, key, "home", now, TOL)
    return info.value.reason


# --- the wire format -------------------------------------------------------------------------------------


def test_every_kind_round_trips_and_a_claim_is_small():
    for body in (Claim(-21.5, 33.0, 0.97, 40, 1), Announce(5, "Dinner is ready 🍝", True), Ack(5, "hall", "busy")):
        data = encode(message(body), KEY)
        got = decode(data, KEY, "home", NOW + 50, TOL)
        assert got.device == "kitchen" and got.nonce == 7 and got.sent_ms == NOW
        if isinstance(body, Claim):  # the score travels as a 32-bit float
            assert isinstance(got.body, Claim) and got.body.score == pytest.approx(0.97)
            assert got.body == Claim(-21.5, 33.0, got.body.score, 40, 1)
        else:
            assert got.body == body
    assert len(encode(message(), KEY)) < 120


def test_wrong_secret_other_group_altered_truncated_and_garbage_are_refused():
    data = encode(message(), KEY)
    assert rejected(data, derive_key("another secret entirely", "home")) == "signature"
    assert rejected(encode(message(group="cellar"), derive_key(SECRET, "cellar"))) == "group"
    # the same secret in another group is another key
    assert derive_key(SECRET, "cellar") != KEY
    flipped = bytearray(data)
    flipped[30] ^= 1
    assert rejected(bytes(flipped)) in ("signature", "malformed")
    assert rejected(data[:20]) == "malformed"
    assert rejected(data[:-1]) in ("signature", "malformed")
    assert rejected(b"GET / HTTP/1.1\r\n" + bytes(60)) == "malformed"
    assert rejected(b"AH\x09" + data[3:]) == "version"
    rng = np.random.default_rng(30)
    for _ in range(300):  # random bytes, and random bytes behind a valid header, never raise anything else
        noise = rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
        for candidate in (noise, data[:16] + noise):
            with pytest.raises(Rejected):
                decode(candidate, KEY, "home", NOW, TOL)


def test_oversized_is_refused_before_anything_is_read_and_cannot_be_sent():
    assert rejected(bytes(MAX_PACKET + 1)) == "too_big"
    with pytest.raises(ValueError):
        encode(message(Announce(1, "x" * 5000)), KEY)
    with pytest.raises(ValueError):
        encode(message(device="d" * 49), KEY)


def test_a_signed_claim_with_nonsense_values_is_malformed():
    assert rejected(encode(message(Claim(float("nan"), 0.0, 0.9)), KEY)) == "malformed"
    assert rejected(encode(message(Claim(-20.0, 0.0, 3.0)), KEY)) == "malformed"


def test_freshness_follows_the_tolerance_not_exact_clocks():
    data = encode(message(sent=NOW - 4 * 60_000), KEY)  # a device whose clock is four minutes behind
    assert decode(data, KEY, "home", NOW, TOL).device == "kitchen"
    assert rejected(encode(message(sent=NOW - 6 * 60_000), KEY)) == "stale"  # six minutes: refused
    assert rejected(encode(message(sent=NOW + 6 * 60_000), KEY)) == "stale"


def test_a_replay_is_refused_within_the_window_and_the_cache_stays_bounded():
    cache = ReplayCache(2 * TOL, limit=100)
    first = decode(encode(message(), KEY), KEY, "home", NOW, TOL)
    cache.check(first, NOW)
    with pytest.raises(Rejected, match="replay"):
        cache.check(first, NOW + 1000)
    cache.check(message(device="hall"), NOW)  # the same nonce from another device is another message
    for n in range(1000):
        cache.check(message(nonce=1000 + n), NOW + n)
    assert len(cache) <= 100


# --- the arbiter -----------------------------------------------------------------------------------------


def test_the_louder_wins_and_the_quieter_loses_at_once_when_the_louder_claimed_first():
    a = Arbiter("a", window=0.1)
    assert a.begin(Bid("a", -20.0, 0.9), woke_at=10.0, now=10.0) is None
    assert a.offer(Bid("b", -23.0, 0.99), woke_at=10.03, now=10.05) is None  # quieter: no decision yet
    assert a.expire(10.05) is None  # the window is not over
    won = a.expire(10.1)
    assert won is not None and won.won and won.reason == Reason.BEST and won.peers == 1 and won.margin_db == 3.0

    b = Arbiter("b", window=0.1)
    b.offer(Bid("a", -20.0, 0.9), woke_at=10.0, now=10.02)
    lost = b.begin(Bid("b", -23.0, 0.99), woke_at=10.05, now=10.05)  # it woke later, after a's claim came
    assert lost is not None and not lost.won and lost.winner == "a" and lost.reason == Reason.BEATEN


def test_a_better_claim_arriving_inside_the_window_ends_it_with_a_loss():
    b = Arbiter("b", window=0.1)
    b.begin(Bid("b", -23.0, 0.9), woke_at=5.0, now=5.0)
    lost = b.offer(Bid("a", -22.9, 0.5), woke_at=5.04, now=5.06)
    assert lost is not None and lost.winner == "a"
    assert b.expire(5.2) is None  # decided once


def test_a_better_device_that_hears_it_after_the_others_decided_stays_silent_never_doubles():
    # y (quieter) woke at 1.0 and decided at 1.1 alone; x (louder) woke at 1.2: y has answered already
    y, x = Arbiter("y", window=0.1), Arbiter("x", window=0.1)
    y.begin(Bid("y", -30.0, 0.9), 1.0, 1.0)
    x.offer(Bid("y", -30.0, 0.9), 1.0, 1.001)
    won = y.expire(1.1)
    assert won is not None and won.won
    late = x.begin(Bid("x", -20.0, 0.9), 1.2, 1.2)
    assert late is not None and not late.won and late.reason == Reason.LATE and late.winner == "y"
    # a claim that woke after y's window does not count against y, even if y's timer fires late
    y.begin(Bid("y", -30.0, 0.9), 5.0, 5.0)
    assert y.offer(Bid("x", -20.0, 0.9), 5.15, 5.16) is None
    late_timer = y.expire(5.2)
    assert late_timer is not None and late_timer.won
    # heard within the margin before y's window ends (its claim could come after y decided) or just after it:
    # x stays silent at once and sends nothing, y answers alone; never both
    for heard in (9.08, 9.12):
        x2, y2 = Arbiter("x", window=0.1), Arbiter("y", window=0.1)
        y2.begin(Bid("y", -30.0, 0.9), 9.0, 9.0)
        x2.offer(Bid("y", -30.0, 0.9), 9.0, 9.0)
        late = x2.begin(Bid("x", -20.0, 0.9), heard, heard)
        assert late is not None and late.reason == Reason.LATE and late.winner == "y"
        assert y2.expire(9.1).won
    # heard before that, its claim counts for y: the louder x answers, y does not
    x3, y3 = Arbiter("x", window=0.1), Arbiter("y", window=0.1)
    y3.begin(Bid("y", -30.0, 0.9), 9.0, 9.0)
    x3.offer(Bid("y", -30.0, 0.9), 9.0, 9.0)
    assert x3.begin(Bid("x", -20.0, 0.9), 9.06, 9.06) is None
    beaten = y3.offer(Bid("x", -20.0, 0.9), 9.06, 9.062)
    assert beaten is not None and beaten.winner == "x" and x3.expire(9.16).won


def test_the_winner_named_in_a_loss_is_this_wake_words_even_when_an_earlier_bid_was_identical():
    b = Arbiter("b", window=0.1)
    for round_at in (1.0, 2.0):
        b.offer(Bid("a", -20.0, 0.9), round_at, round_at)  # the same bid twice, a second apart
        lost = b.begin(Bid("b", -30.0, 0.9), round_at + 0.01, round_at + 0.01)
        assert lost is not None and lost.winner == "a" and lost.winner_woke == round_at


def test_ties_break_on_the_device_id_the_same_way_on_both_devices():
    for level, score in ((-20.0, 0.9), (-20.04, 0.9)):  # equal to 0.1 dB
        x, y = Arbiter("x"), Arbiter("y")
        x.begin(Bid("x", -20.0, 0.9), 1.0, 1.0)
        y.begin(Bid("y", level, score), 1.0, 1.0)
        dx = x.offer(Bid("y", level, score), 1.0, 1.01) or x.expire(2.0)
        dy = y.offer(Bid("x", -20.0, 0.9), 1.0, 1.01) or y.expire(2.0)
        assert dx is not None and dy is not None
        assert [dx.won, dy.won] == [False, True] and dx.winner == dy.winner == "y"
    # the score decides between equal levels
    x = Arbiter("x")
    x.begin(Bid("x", -20.0, 0.95), 1.0, 1.0)
    assert x.offer(Bid("y", -20.0, 0.90), 1.0, 1.01) is None


def test_a_conversation_keeps_its_device_and_old_or_other_wake_words_do_not_count():
    a = Arbiter("a", window=0.1)
    a.offer(Bid("b", -40.0, 0.6, priority=1), woke_at=3.0, now=3.0)  # b is mid-conversation and heard it
    lost = a.begin(Bid("a", -10.0, 1.0), 3.05, 3.05)
    assert lost is not None and lost.winner == "b"
    a.offer(Bid("c", 0.0, 1.0), woke_at=4.0, now=4.0)  # a wake word five seconds earlier is another one
    won = a.begin(Bid("a", -30.0, 0.6), 9.0, 9.0) or a.expire(9.2)
    assert won is not None and won.won and won.reason == Reason.ALONE


def test_no_claims_means_answering_alone_and_a_send_failure_answers_at_once():
    a = Arbiter("a", window=0.1)
    a.begin(Bid("a", -30.0, 0.6), 1.0, 1.0)
    won = a.expire(1.1)
    assert won is not None and won.won and won.reason == Reason.ALONE
    a.begin(Bid("a", -30.0, 0.6), 2.0, 2.0)
    failed = a.fail()
    assert failed is not None and failed.won and failed.reason == Reason.NETWORK


def test_the_level_meter_hears_the_louder_copy_louder_and_measures_snr():
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    word = np.sin(2 * np.pi * 300 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = rng.normal(0, 0.001, 32000)
    levels = []
    for gain in (1.0, 10 ** (-3 / 20)):
        meter = LevelMeter()
        audio = np.concatenate([noise, 0.3 * gain * word]) * 32767
        for i in range(0, len(audio) - 1279, 1280):
            meter.feed(audio[i : i + 1280].astype(np.int16))
        levels.append(meter.measure())
    (loud, loud_snr), (quiet, quiet_snr) = levels
    assert loud - quiet == pytest.approx(3.0, abs=0.1)
    assert loud_snr > 40 and loud_snr - quiet_snr == pytest.approx(3.0, abs=0.3)


# --- settings --------------------------------------------------------------------------------------------


def test_settings_and_the_secret_come_from_where_other_settings_and_secrets_do(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[household]\nenabled = true\ngroup = "flat-3"\nwindow_ms = 100\n')
    env = {"APPLIANCE_SECRET__HOUSEHOLD__SECRET": SECRET, "APPLIANCE_HOUSEHOLD__PORT": "47999"}
    settings = load(config, env)
    assert settings.household.enabled and settings.household.group == "flat-3"
    assert settings.household.port == 47999 and settings.household.window_ms == 100
    assert settings.secrets.get("household", "secret") == SECRET
    assert settings.secrets.redact(f"key {SECRET}!") == "key ***!"
    assert SECRET not in repr(settings)
    for bad in ("window_ms = 400", 'multicast_group = "10.0.0.1"', 'group = "a b"', 'interface = "eth0"'):
        config.write_text(f"[household]\n{bad}\n")
        with pytest.raises(SettingsError, match="household"):
            load(config, {})
    assert "APPLIANCE_SECRET__HOUSEHOLD__SECRET is not set" in secret_problem(True, "")
    assert "shorter" in secret_problem(True, "short")
    assert secret_problem(True, SECRET) == "" and secret_problem(False, "") == ""


# --- devices over real sockets ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


class Device:
    def __init__(
        self,
        name: str,
        port: int,
        secret: str = SECRET,
        busy: str = "",
        skew: float = 0.0,
        clock=time.monotonic,
        **kw: object,
    ) -> None:
        self.decisions: queue.Queue = queue.Queue()
        self.played: list[str] = []
        self.busy = busy
        settings = HouseholdSettings(enabled=True, port=port, interface="127.0.0.1", **{"window_ms": 100, **kw})
        wall = (lambda: time.time() + skew) if skew else time.time
        self.house = Household(
            settings, secret, self.decisions.put, self.heard, device=name, seed=1, wall=wall, clock=clock
        ).start()

    def heard(self, heard):
        if self.busy:
            return self.busy
        self.played.append(heard.text)
        return ""

    def decision(self, timeout=2.0):
        return self.decisions.get(timeout=timeout)


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def devices(port):
    made: list[Device] = []

    def make(name, **kw):
        made.append(Device(name, port, **kw))
        return made[-1]

    yield make
    for d in made:
        d.house.close()


def test_three_devices_over_loopback_multicast_the_loudest_answers(devices):
    a, b, c = devices("a"), devices("b"), devices("c")
    # b hears it first (its claim is on the wire when the others wake), but a is the loudest
    now = a.house.transport._clock()
    for d, level, delay in ((b, -26.0, 0.0), (a, -20.0, 0.03), (c, -23.0, 0.05)):
        d.house.wake(level, 30.0, 0.9, woke_at=now + delay)
    got = {d.house.device: d.decision() for d in (a, b, c)}
    assert got["a"].won and not got["b"].won and not got["c"].won, got
    assert got["b"].winner == got["c"].winner == "a"
    assert "b" in a.house.peers  # c lost at once (a's claim was there when it woke): it sent nothing


def heard_at(house: Household, dbfs: float, frames: int = 20) -> None:
    """Feed a device's level meter a second and a half of a tone this loud (dBFS of its power)."""
    t = np.arange(1280 * frames) / 16000
    tone = np.sin(2 * np.pi * 300 * t) * np.sqrt(2) * 10 ** (dbfs / 20) * 32767
    for i in range(frames):
        house.hear(tone[i * 1280 : (i + 1) * 1280].astype(np.int16))


def has_heard(house: Household, device: str, seconds: float = 2.0) -> bool:
    """Wait (polling every 5 ms) until the device has received a message from that peer (a claim: and acted on it)."""
    deadline = time.monotonic() + seconds
    while device not in house.peers and time.monotonic() < deadline:
        threading.Event().wait(0.005)
    return device in house.peers


def scored_within(house: Household, score: float, seconds: float = 1.0) -> bool:
    """Offer the device this wake score frame after frame (every 5 ms) until it says it heard it too."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if house.scored(score):
            return True
        threading.Event().wait(0.005)
    return False


def test_a_louder_device_whose_model_has_not_fired_claims_the_wake_word_too_and_answers(devices):
    # the farther device's model fires first; the nearer one's scored 0.3 on the same words: it claims them as
    # heard at the same moment, within the farther one's window, and answers instead of it
    # the devices' clock stands still until the test moves it: a loaded machine cannot end the window early
    now = [time.monotonic()]
    far, near = (devices(name, window_ms=150, clock=lambda: now[0]) for name in ("far", "near"))
    heard_at(near.house, -20.0)
    near.house.scored(0.3)  # the frame before the claim arrives
    far.house.wake(-26.0, 20.0, 0.8)
    assert has_heard(near.house, "far")  # the claim is in (a loaded machine may take a while)
    assert near.house.scored(0.02)  # its model scored 0.3 on the last two frames, though 0.02 on this one
    near.house.claim(0.3)
    now[0] += 0.15  # the window ends
    won, lost = near.decision(), far.decision()
    assert won.won and won.reason == Reason.BEST and won.peers == 1 and won.margin_db > 5, won
    assert not lost.won and lost.winner == "near" and lost.reason == Reason.BEATEN, lost
    assert won.ms <= 150 + 30, won  # decided when the far device's window ended, not a window after


def test_a_quieter_device_or_one_whose_model_heard_nothing_does_not_claim_another_devices_wake_word(devices):
    quiet, deaf, far = devices("quiet", window_ms=150), devices("deaf", window_ms=150), devices("far", window_ms=150)
    heard_at(quiet.house, -32.0)
    heard_at(deaf.house, -10.0)  # loud (a television), but its wake model scored nothing on it
    far.house.wake(-26.0, 20.0, 0.8)
    assert has_heard(quiet.house, "far") and has_heard(deaf.house, "far")
    assert not scored_within(quiet.house, 0.5, seconds=0.4)
    assert not scored_within(deaf.house, 0.05, seconds=0.4)
    decision = far.decision()
    assert decision.won and decision.reason == Reason.ALONE and decision.peers == 0, decision
    assert quiet.decisions.empty() and deaf.decisions.empty()
    assert not scored_within(deaf.house, 0.9, seconds=0.05)  # once the window is over nothing is left to join


def sniffer(port: int) -> socket.socket:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    rx.bind(("", port))
    group = struct.pack("4s4s", socket.inet_aton("239.255.77.30"), socket.inet_aton("127.0.0.1"))
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
    rx.settimeout(2.0)
    return rx


def test_a_rogue_sender_replayed_claims_and_junk_change_nothing(devices, port):
    sniff = sniffer(port)
    a, b = devices("a"), devices("b")
    rogue = devices("rogue", secret="not the household's secret")
    rogue.house.wake(0.0, 90.0, 1.0)  # loud, but signed with another key: a never takes it as a claim
    a.house.wake(-30.0, 10.0, 0.6)
    assert rogue.decision().won
    won = a.decision()
    assert won.won and won.reason == Reason.ALONE and won.peers == 0
    assert a.house.rejected["signature"] >= 1

    threading.Event().wait(1.0)  # the next wake word is another one
    b.house.wake(-10.0, 40.0, 1.0)  # a real member's loud claim, captured on the wire
    assert b.decision().won
    theirs: list[bytes] = []
    while len(theirs) < 3:  # b's claim, its copy, and its "I answer"
        data, _ = sniff.recvfrom(4096)
        theirs += [data] if decode_or_none(data) == "b" else []
    sniff.close()
    threading.Event().wait(1.0)  # the next wake word is another one
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    for data in theirs:
        tx.sendto(data, ("239.255.77.30", port))  # replayed
    tx.sendto(bytes(2000), ("239.255.77.30", port))  # oversized
    tx.sendto(b"XX" + bytes(70), ("239.255.77.30", port))  # malformed
    tx.close()
    for _ in range(40):
        if a.house.rejected["too_big"] and a.house.rejected["malformed"]:
            break
        threading.Event().wait(0.05)
    assert a.house.rejected["too_big"] == 1 and a.house.rejected["malformed"] == 1
    assert a.house.rejected["replay"] >= len(theirs)
    a.house.wake(-30.0, 10.0, 0.6)  # the replayed loud claim does not make a lose its next wake word
    won = a.decision()
    assert won.won and won.peers == 0


def decode_or_none(data: bytes) -> str | None:
    try:
        return decode(data, KEY, "home", int(time.time() * 1000), TOL).device
    except Rejected:
        return None


def test_a_peer_that_dies_mid_window_and_a_dead_network_never_silence_the_device(devices):
    a, b = devices("a"), devices("b")
    b.house.wake(-15.0, 20.0, 0.8)  # b claims louder ...
    threading.Thread(target=b.house.close).start()  # ... and dies before its window ends
    a.house.wake(-20.0, 20.0, 0.8)
    got = a.decision()
    assert got.won and got.reason == Reason.TAKEOVER  # b never said it answers: a does
    threading.Event().wait(1.0)
    a.house.transport._tx.close()  # the network is gone: the claim cannot be sent
    a.house.wake(-20.0, 20.0, 0.8)
    got = a.decision(timeout=0.05)  # at once, not after the window
    assert got.won and got.reason == Reason.NETWORK


def test_the_loser_stays_quiet_once_the_winner_says_it_answers(devices):
    a, b = devices("a"), devices("b")
    b.house.wake(-15.0, 20.0, 0.8)
    assert has_heard(a.house, "b")  # b's claim is there when a wakes (a loaded machine may delay it)
    a.house.wake(-20.0, 20.0, 0.8)
    won, lost = b.decision(), a.decision()
    assert won.won and won.reason == Reason.ALONE  # a lost at once, so it sent no claim
    assert not lost.won and lost.winner == "b" and lost.reason == Reason.BEATEN
    with pytest.raises(queue.Empty):
        a.decision(timeout=0.6)  # no takeover follows


def test_a_clock_minutes_off_still_arbitrates_and_one_far_off_answers_alone(devices):
    a, behind = devices("a"), devices("behind", skew=-4 * 60)  # four minutes slow: within the tolerance
    a.house.wake(-20.0, 20.0, 0.9)
    behind.house.wake(-25.0, 20.0, 0.9, woke_at=behind.house.transport._clock() + 0.02)
    assert a.decision().won and not behind.decision().won
    threading.Event().wait(1.0)
    far = devices("far", skew=-10 * 60)  # ten minutes slow: its claims are refused as stale, and it refuses ours
    a.house.wake(-20.0, 20.0, 0.9)
    far.house.wake(-25.0, 20.0, 0.9)
    assert a.decision().won and far.decision().won  # a double answer, never a silent household
    assert a.house.rejected["stale"] >= 1 and far.house.rejected["stale"] >= 1


def test_packet_loss_costs_at_most_a_double_answer_never_a_silent_household(port):
    made = [Device(n, port, simulate_loss=0.5) for n in ("a", "b")]
    try:
        outcomes = []
        for trial in range(12):
            made[0].house.wake(-20.0 + trial, 20.0, 0.9)
            made[1].house.wake(-24.0 + trial, 20.0, 0.9)
            got = [d.decision() for d in made]
            outcomes.append(tuple(g.won for g in got))
            threading.Event().wait(0.8)  # the next wake word is another one
        assert all(any(o) for o in outcomes)  # someone always answers
        assert (False, True) not in outcomes  # and never the quieter alone
        assert (True, False) in outcomes
    finally:
        for d in made:
            d.house.close()


def test_announce_to_all_with_one_device_busy(devices):
    a, b = devices("a"), devices("b")
    busy = devices("c", busy="busy (speaking)")
    for d in (b, busy):  # the announcer knows its peers from their traffic (a wake word's claim)
        d.house.keep(-50.0, 0.0, 0.5)
    for _ in range(40):
        if a.house.peers.keys() >= {"b", "c"}:
            break
        threading.Event().wait(0.05)
    deliveries = {d.device: d.status for d in a.house.announce_all("Dinner is ready")}
    assert deliveries == {"b": "played", "c": "busy (speaking)"}
    assert b.played == ["Dinner is ready"] and busy.played == []


def test_doctor_says_why_the_device_answers_alone(port):
    import io

    from appliance.host import doctor

    def settings(secret: str | None):
        env = {"APPLIANCE_HOUSEHOLD__ENABLED": "true", "APPLIANCE_HOUSEHOLD__PORT": str(port)}
        return load(None, env | ({"APPLIANCE_SECRET__HOUSEHOLD__SECRET": secret} if secret else {}))

    out = io.StringIO()
    no_secret = settings(None)
    assert doctor.run_doctor(no_secret, out=out, checks=[lambda: doctor.check_household(no_secret)]) == 0
    assert "WARN  household" in out.getvalue() and "APPLIANCE_SECRET__HOUSEHOLD__SECRET is not set" in out.getvalue()
    assert "answers alone" in out.getvalue()
    ok = doctor.check_household(settings(SECRET))
    assert ok.status == "OK" and "home" in ok.message and str(port) in ok.message and SECRET not in ok.message
    assert doctor.check_household(load(None, {})).message.startswith("off")


def test_the_tell_everyone_tool_reports_each_device():
    from appliance.household.announce import Delivery
    from appliance.household.tools import tell_everyone_tool
    from appliance.tools.registry import ToolRegistry

    sent: list[str] = []

    def announce(text: str) -> list[Delivery]:
        sent.append(text)
        return [Delivery("hall", "played"), Delivery("office", "busy (speaking)"), Delivery("attic", "no answer")]

    registry = ToolRegistry()
    registry.register(tell_everyone_tool(announce))
    schema = {t["name"]: t for t in registry.specs()}["tell_everyone"]
    assert "message" in schema["parameters"]["properties"]
    out = tell_everyone_tool(announce)("  Dinner   is ready. ")
    assert sent == ["Dinner is ready."]
    assert out == "Played on hall. Not played on office: busy (speaking). Not played on attic: no answer."
    assert "No other device" in tell_everyone_tool(lambda text: [])("hello")


def test_a_wav_microphone_started_late_skips_what_it_would_have_heard(tmp_path):
    from appliance.audio.wavfile import WavMicrophone
    from standin.voice import silence, write_wav

    path = write_wav(tmp_path / "s.wav", silence(2.0))  # 25 frames
    frames = list(WavMicrophone(path, start_at=time.time() - 1.0).frames())  # a second late: ~12 skipped
    assert 10 <= len(frames) <= 15
    assert len(list(WavMicrophone(path, pace=0).frames())) == 25

"""Enrollment: a few takes of the user's wake word and some of their other speech → a verifier for the model.

The model is openWakeWord's custom verifier (flattened wake-model features → standardization → logistic
regression, as in ``openwakeword.custom_verifier_model``), trained here rather than with that module's
``train_custom_verifier`` because (measured on the held-out set, docs/wake-word.md): its C = 0.001 left the
user's own far-field wake words at 0.6–0.7 while near misses kept 0.5–0.8; C = 0.05 with balanced classes
separates them better. Features are gathered with the detector reset before each clip (openwakeword's
helper carries one clip's audio into the next) and at seeded offsets, so enrollment is repeatable.

Each take and the negatives are also heard through simulated rooms (pink noise at 10 and 5 dB SNR, a
reverberant far field): the user enrolls in a quiet room, and the verifier must still know them in a noisy one.

Negatives are the user's own voice saying a prompt full of words one sound away from the wake word
("hey Davis, hey Harvey, ...") and ordinary words: a speaker-dependent verifier needs the same speaker's
non-wake speech, and the near misses are exactly where the plain model fails. The prompt avoids the held-out
set's near misses, so the benchmark's false wakes are not trained on.

scikit-learn is imported only by :func:`train` (seconds of import): never on the appliance's start path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from appliance.config.settings import WakeSettings
from appliance.errors import ApplianceError, ErrorKind
from appliance.ports import FRAME_SAMPLES, SAMPLE_RATE
from appliance.wake.oww import OpenWakeWordDetector
from appliance.wake.verifier import LinearVerifier

MIN_TAKES, MAX_TAKES = 3, 5
NEGATIVE_PROMPT = (
    "Hey Davis, hey Harvey, hey Charles, hey Marty, hey Jarrod. "
    "A jar of jam is on the service desk, and the car is in the garage."
)
MIN_NEGATIVE_SECONDS = 3.0
#: a take must score at least this on the wake model; frames from this score on are the verifier's positives
TAKE_FLOOR = 0.5
POSITIVE_FLOOR = 0.3
SHIFTS = (0, 427, 853)  # samples: three alignments of the 80 ms frames per clip
C = 0.05
CLIP_LEVEL = 32000
SPEECH_DBFS = -45.0
MIN_SPEECH_SECONDS = 0.3


class EnrollError(ApplianceError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.WAKE, message)


@dataclass(frozen=True)
class TakeCheck:
    index: int  # 1-based, as the user counts
    score: float
    problem: str = ""  # empty: the take is good

    @property
    def ok(self) -> bool:
        return not self.problem


def _pad(audio: np.ndarray) -> np.ndarray:
    """A second of silence before (the model needs context) and half a second after."""
    return np.concatenate([np.zeros(SAMPLE_RATE, np.int16), audio, np.zeros(SAMPLE_RATE // 2, np.int16)])


def _frames_rms_db(audio: np.ndarray) -> np.ndarray:
    win = SAMPLE_RATE // 50
    n = len(audio) // win
    if n == 0:
        return np.array([-120.0])
    x = audio[: n * win].astype(np.float64).reshape(n, win)
    return np.asarray(20 * np.log10(np.sqrt(np.mean(x**2, axis=1)) / 32768 + 1e-9))


def best_score(detector: OpenWakeWordDetector, audio: np.ndarray, model: str) -> float:
    detector.reset()
    a = _pad(audio)
    best = 0.0
    for i in range(0, len(a) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        detector.process(a[i : i + FRAME_SAMPLES])
        best = max(best, detector.last_scores[model])
    return best


def check_take(detector: OpenWakeWordDetector, audio: np.ndarray, model: str, index: int) -> TakeCheck:
    """Speech present, not clipped, and the wake model hears its wake word in it."""
    if len(audio) and float(np.mean(np.abs(audio.astype(np.int32)) >= CLIP_LEVEL)) > 0.001:
        return TakeCheck(index, 0.0, "clipped: speak a little further from the microphone, or lower its gain")
    loud = float(np.sum(_frames_rms_db(audio) > SPEECH_DBFS)) / 50
    if loud < MIN_SPEECH_SECONDS:
        return TakeCheck(index, 0.0, "no speech heard: speak closer to the microphone")
    score = best_score(detector, audio, model)
    if score < TAKE_FLOOR:
        return TakeCheck(index, score, f"the wake model scored it {score:.2f} (needs {TAKE_FLOOR}): say the wake word")
    return TakeCheck(index, score)


def _pink(n: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return np.asarray(x * (rms / (float(np.sqrt(np.mean(x**2))) + 1e-12)))


def rooms(audio: np.ndarray, seed: int) -> list[np.ndarray]:
    """The clip as recorded, in pink noise at 10 and 5 dB SNR, and in a reverberant far field (RT60 0.6 s,
    -14 dB, 20 dB SNR): the conditions the verifier has to work in, simulated from a quiet take."""
    x = audio.astype(np.float64)
    levels = _frames_rms_db(audio)
    voiced = levels[levels > levels.max() - 20]
    rms = 32768 * 10 ** (float(np.mean(voiced)) / 20) if len(voiced) else 1000.0
    rng = np.random.default_rng(seed)
    out = [audio]
    for snr in (10.0, 5.0):
        out.append(x + _pink(len(x), rms / 10 ** (snr / 20), rng))
    n = int(0.6 * SAMPLE_RATE)
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * np.arange(n) / n)
    tail[: int(0.003 * SAMPLE_RATE)] = 0
    tail *= 10 ** (3 / 20) / (float(np.sqrt(np.sum(tail**2))) + 1e-12)
    tail[0] = 1.0
    far = np.convolve(x, tail)[: len(x)] * 10 ** (-14 / 20)
    out.append(far + _pink(len(x), rms * 10 ** (-14 / 20) / 10, rng))
    return [np.clip(np.round(a), -32768, 32767).astype(np.int16) for a in out]


def features(detector: OpenWakeWordDetector, audio: np.ndarray, model: str, floor: float) -> list[np.ndarray]:
    """The model's input features at every frame scoring ``floor`` or more, at each of SHIFTS."""
    out = []
    for shift in SHIFTS:
        detector.reset()
        a = _pad(audio[shift:])
        for i in range(0, len(a) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            detector.process(a[i : i + FRAME_SAMPLES])
            if detector.last_scores[model] >= floor:
                out.append(detector.features(model)[0].reshape(-1))
    return out


def train(
    positives: list[np.ndarray], negatives: list[np.ndarray], model: str, takes: int, source: str
) -> LinearVerifier:
    """Fit the verifier; only here is scikit-learn imported."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    x = np.vstack(positives + negatives)
    y = np.array([1] * len(positives) + [0] * len(negatives))
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=0)
    clf.fit(scaler.transform(x), y)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return LinearVerifier(
        model=model,
        mean=scaler.mean_.astype(np.float64),
        scale=scale.astype(np.float64),
        coef=clf.coef_[0].astype(np.float64),
        intercept=float(clf.intercept_[0]),
        takes=takes,
        negatives=source,
    )


def enroll(
    takes: list[np.ndarray],
    negatives: list[np.ndarray],
    settings: WakeSettings,
    *,
    model: str | None = None,
    source: str = "recorded prompt",
    detector: OpenWakeWordDetector | None = None,
) -> LinearVerifier:
    """Check the takes (EnrollError names each one to repeat), then train a verifier for ``model`` (default:
    the first of wake.models) on them and on ``negatives`` (the user's other speech)."""
    if not MIN_TAKES <= len(takes) <= MAX_TAKES:
        raise EnrollError(f"enrollment needs {MIN_TAKES} to {MAX_TAKES} takes of the wake word, got {len(takes)}")
    plain = dataclasses.replace(settings, refractory_seconds=0.0, verifier_threshold=None)
    det = detector or OpenWakeWordDetector(plain, seed=0)
    det.use_verifiers([])  # the plain model's scores choose the frames
    name = model or det.names[0]
    if name not in det.names:
        raise EnrollError(f"no wake model {name!r} loaded (wake.models: {', '.join(det.names)})")
    checks = [check_take(det, take, name, i + 1) for i, take in enumerate(takes)]
    bad = [c for c in checks if not c.ok]
    if bad:
        raise EnrollError("; ".join(f"take {c.index}: {c.problem}" for c in bad) + " — repeat these")
    heard = sum(len(n) for n in negatives) / SAMPLE_RATE
    if heard < MIN_NEGATIVE_SECONDS:
        raise EnrollError(f"the negatives hold {heard:.1f} s of audio; at least {MIN_NEGATIVE_SECONDS:.0f} s needed")
    # The prompt's near misses may well wake the plain model: they are there for the verifier to learn to
    # reject. The peak is kept in the description, so a user who said the wake word itself can tell.
    peak = max(best_score(det, neg, name) for neg in negatives)
    source = f"{source} (the plain model scored them up to {peak:.2f})"
    positives = [
        f for i, take in enumerate(takes) for a in rooms(take, 100 + i) for f in features(det, a, name, POSITIVE_FLOOR)
    ]
    rejected = [f for i, neg in enumerate(negatives) for a in rooms(neg, 900 + i) for f in features(det, a, name, 0.0)]
    return train(positives, rejected, name, len(takes), source)

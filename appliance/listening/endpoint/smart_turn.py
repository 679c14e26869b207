"""Is the utterance complete? The smart-turn v3 model (a Whisper-tiny encoder with a one-logit head, int8 ONNX,
BSD-2-Clause, by Daily) on the last 8 s of the recording.

The weights ship as package data inside the ``pipecat-ai`` wheel, which the project installs with its declared
dependencies emptied (``[[tool.uv.dependency-metadata]]`` in pyproject.toml): the file is found through the
distribution's metadata and nothing of pipecat is imported, so none of the framework's runtime dependencies
(aiohttp, numba, loguru, ...) reach the Pi, and nothing is downloaded at run time.

The model wants Whisper's log-mel features for exactly 8 s (80 mel bands x 800 frames of 10 ms). They are
computed here in numpy: waveform normalised to zero mean and unit variance, 25 ms periodic-Hann windows every
10 ms on a reflect-padded signal, power spectrum onto a Slaney-normalised mel filter bank (0-8 kHz), log10,
floored 8 decades under the maximum, then scaled to about -1..1. Shorter audio is padded with zeros in front, so
the end of speech always sits at the end of the window, where the model looks for it.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.errors import ApplianceError, ErrorKind

RATE = 16000
WINDOW_SECONDS = 8
WINDOW_SAMPLES = RATE * WINDOW_SECONDS
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 80
N_FRAMES = WINDOW_SAMPLES // HOP  # 800
BLOCK_FRAMES = 100  # frames whose spectra are computed at once
MODEL_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
DISTRIBUTION = "pipecat-ai"

Float = npt.NDArray[np.float32]


def model_path() -> Path:
    """Where the installed ``pipecat-ai`` distribution keeps the model (no import of pipecat)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as e:
        raise ApplianceError(
            ErrorKind.CONFIG, f"{DISTRIBUTION} is not installed: it ships the smart-turn model", stage="endpoint"
        ) from e
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise ApplianceError(
            ErrorKind.CONFIG, f"smart-turn model missing from {DISTRIBUTION}: {path}", stage="endpoint"
        )
    return path


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's mel scale: linear to 1 kHz (3 mel per 200 Hz), logarithmic above."""
    mel = 3.0 * hz / 200.0
    log_part = hz >= 1000.0
    mel[log_part] = 15.0 + np.log(hz[log_part] / 1000.0) * (27.0 / np.log(6.4))
    return mel


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    hz = 200.0 * mel / 3.0
    log_part = mel >= 15.0
    hz[log_part] = 1000.0 * np.exp((mel[log_part] - 15.0) * (np.log(6.4) / 27.0))
    return hz


def mel_filters() -> npt.NDArray[np.float64]:
    """(N_MELS, N_FFT//2+1) triangular filters, each scaled to unit area (Slaney normalisation)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([RATE / 2]))[0], N_MELS + 2))
    bins = np.linspace(0.0, RATE / 2, N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    tri = np.maximum(0.0, np.minimum(rising, falling))
    return tri * (2.0 / (upper - lower))


_FILTERS = mel_filters()
_HANN = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic, as torch.hann_window


def last_window(pcm: npt.NDArray[Any]) -> Float:
    """The last 8 s of 16 kHz int16 (or -1..1 float) audio as float32, zero-padded in front to exactly 8 s."""
    x = np.asarray(pcm)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    x = x[-WINDOW_SAMPLES:]
    if len(x) < WINDOW_SAMPLES:
        x = np.concatenate([np.zeros(WINDOW_SAMPLES - len(x), dtype=np.float32), x])
    return x


def features(pcm: npt.NDArray[Any]) -> Float:
    """Whisper-style log-mel features (1, 80, 800) of the last 8 s of ``pcm``. The spectra are computed
    :data:`BLOCK_FRAMES` frames at a time: all 800 at once held ~7 MB of float64 intermediates at every decision
    (the process's peak memory), a block holds under 1 MB, for the same numbers."""
    x = last_window(pcm)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    # 801 windows fit; Whisper drops the last one, so it is not computed
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:N_FRAMES]  # (800, 400), a view
    mel = np.empty((N_MELS, N_FRAMES))
    for start in range(0, N_FRAMES, BLOCK_FRAMES):
        block = frames[start : start + BLOCK_FRAMES]
        power = np.abs(np.fft.rfft(block * _HANN, axis=-1)) ** 2  # (block, 201)
        mel[:, start : start + BLOCK_FRAMES] = _FILTERS @ power.T
    logmel = np.log10(np.maximum(1e-10, mel))
    logmel = np.maximum(logmel, logmel.max() - 8.0)
    out: Float = ((logmel + 4.0) / 4.0).astype(np.float32)[None, :, :]
    return out


@dataclass(frozen=True)
class TurnVerdict:
    """The model's answer for one decision, with what it cost (for the ``end_of_turn`` event and benchmarks)."""

    probability: float
    """Probability that the utterance is complete (0..1)."""
    features_ms: float
    model_ms: float
    """Wall times: on a busy machine they include waiting for a core."""
    cpu_ms: float = 0.0
    """CPU time of the calling thread for both (onnxruntime runs on it with one intra-op thread): the cost
    without contention."""

    @property
    def total_ms(self) -> float:
        return self.features_ms + self.model_ms


#: The most of an arena chunk that may go unused when a smaller request takes it (0 makes onnxruntime abort).
ARENA_DEAD_BYTES = 1 << 20

_arena_lock = threading.Lock()
_arena_shared = False


def _share_arena(ort: Any) -> None:
    """Register, once per process, the arena the turn model's sessions share. onnxruntime's own arena grows in
    powers of two and kept 37 MB after the first decisions (steady; 44 MB peak); this one grows by what is asked
    and splits its chunks: 27 MB (peak 30). With no arena at all only ~10 MB stay, but every decision then faults
    its ~25 MB of activations in afresh: 35 ms more CPU per decision here (57 → 93 ms), which the end of the turn
    waits for (scripts/bench_memory.py, tests/test_memory.py)."""
    global _arena_shared
    with _arena_lock:
        if _arena_shared:
            return
        # max_mem 0 (no limit), extend strategy 1 (kSameAsRequested), the initial chunk onnxruntime's default;
        # a free chunk is split when over 1 MB of it would go unused (the default, 128 MB, hands a small request a
        # whole large chunk): 2 MB less at the peak, the same CPU per decision (scripts/bench_memory.py)
        config = ort.OrtArenaCfg(0, 1, -1, ARENA_DEAD_BYTES)
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory, config)
        _arena_shared = True


class SmartTurn:
    """One onnxruntime session, loaded once (~0.3 s) and kept; ``predict`` costs ~120 ms of CPU on one x86 core
    of the shared build machine (features ~8 ms of it); see scripts/bench_endpoint.py.

    ``threads`` is onnxruntime's intra-op count: 1 keeps a Pi's other cores for the VAD, the wake word and the
    audio threads; 2 may be faster when a core is idle (not measured on a Pi)."""

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # activations come from an arena that grows by what a decision asks, without a memory pattern
        options.enable_mem_pattern = False
        options.add_session_config_entry("session.use_env_allocators", "1")
        _share_arena(ort)
        try:
            self._session = ort.InferenceSession(
                str(path or model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own untyped errors for a bad file
            raise ApplianceError(ErrorKind.CONFIG, f"cannot load the smart-turn model: {e}", stage="endpoint") from e
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [N_MELS, N_FRAMES]:
            raise ApplianceError(ErrorKind.CONFIG, f"unexpected smart-turn model inputs: {inputs}", stage="endpoint")
        self._input = inputs[0].name

    def predict(self, pcm: npt.NDArray[Any]) -> TurnVerdict:
        """The probability that the speech in ``pcm`` (16 kHz, the whole utterance so far) is a finished turn."""
        c0 = time.thread_time()
        t0 = time.perf_counter()
        feats = features(pcm)
        t1 = time.perf_counter()
        out = self._session.run(None, {self._input: feats})[0]
        t2 = time.perf_counter()
        cpu = (time.thread_time() - c0) * 1000.0
        probability = float(np.clip(np.asarray(out).reshape(-1)[0], 0.0, 1.0))  # the graph ends in a sigmoid
        return TurnVerdict(probability, (t1 - t0) * 1000.0, (t2 - t1) * 1000.0, cpu)

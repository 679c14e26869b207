"""The device's own recogniser for when the cloud cannot be reached: pocketsphinx, held to the command grammar.

pocketsphinx (BSD-2-Clause) ships its US-English acoustic model and pronunciation dictionary inside its wheel
(aarch64 wheels for Python 3.11 and 3.13), so nothing is downloaded. It decodes the recorded question twice:

- against the grammar of the local commands (:mod:`.grammar`, made from the same templates at start: a few
  hundred states, a dictionary of the ~170 words they use), which finds the command sentence the audio is
  closest to — always one, even for "what's the weather like", which is why a second pass is needed;
- against a free loop of phones (the model's phonetic language model), the best the audio can score with no
  grammar at all.

A command said clearly scores about as well under the grammar as under the free loop; a sentence the grammar
cannot say is forced into a command and scores clearly worse. The difference of the two scores per second of
audio is the confidence, and below ``min_confidence`` the words are not trusted: the question is not a
command. The words that pass are matched by the same :class:`~appliance.local.matcher.CommandMatcher` as a
transcript. The figures behind the threshold are in docs/performance.md (scripts/bench_offline.py).

Loading takes ~0.2 s and ~13 MB, so it happens only when the appliance first finds itself offline.
"""

from __future__ import annotations

import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.local.offline import grammar
from appliance.ports import SAMPLE_RATE

#: below this confidence (the grammar's log score per second minus the free phone loop's) nothing is trusted
MIN_CONFIDENCE = -1.0


@dataclass(frozen=True)
class Heard:
    """What the recogniser made of a question: its words under the grammar, and how far to trust them."""

    text: str
    confidence: float  # the grammar's log score per second minus the free phone loop's (≈ 0 when clear)
    trusted: bool


class PocketsphinxRecogniser:
    """Command recognition on the device. ``load`` once (any thread), then ``hear`` a recording at a time."""

    def __init__(
        self,
        templates: dict[str, Any],
        *,
        enabled: frozenset[str] | None = None,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        self._templates = templates
        self._enabled = enabled
        self.min_confidence = min_confidence
        self._lock = threading.Lock()
        self._grammar: Any = None
        self._phones: Any = None

    @property
    def loaded(self) -> bool:
        return self._grammar is not None

    def load(self) -> None:
        """Builds the grammar and both decoders (idempotent)."""
        with self._lock:
            if self._grammar is not None:
                return
            from pocketsphinx import Decoder, get_model_path

            model = Path(get_model_path("en-us"))
            cmudict = (model / "cmudict-en-us.dict").read_text(encoding="utf-8").splitlines()
            known = {line.split(" ", 1)[0].split("(", 1)[0] for line in cmudict}
            graph = grammar.minimal(grammar.build(self._templates, known.__contains__, enabled=self._enabled))
            graph = grammar.with_lead_in(graph)
            with tempfile.TemporaryDirectory(prefix="appliance-offline-") as tmp:
                fsg, words = Path(tmp) / "commands.fsg", Path(tmp) / "commands.dict"
                fsg.write_text(graph.to_fsg(), encoding="utf-8")
                said = grammar.dictionary(graph.vocabulary(), cmudict) + grammar.filler_dictionary()
                words.write_text(said, encoding="utf-8")
                common = {"hmm": str(model / "en-us"), "samprate": SAMPLE_RATE, "loglevel": "FATAL"}
                decoder = Decoder(dict=str(words), fsg=str(fsg), **common)
            phones = Decoder(allphone=str(model / "en-us-phone.lm.bin"), dict=None, lm=None, **common)
            self._grammar, self._phones = decoder, phones

    def hear(self, audio: np.ndarray) -> Heard:
        """The command words in 16 kHz mono int16 ``audio``, with their confidence."""
        self.load()
        pcm = np.ascontiguousarray(audio, dtype=np.int16).tobytes()
        seconds = max(len(audio) / SAMPLE_RATE, 0.1)
        with self._lock:
            text, score = _decode(self._grammar, pcm)
            _, free = _decode(self._phones, pcm)
        text = grammar.without_fillers(text)
        if not text or score is None or free is None:
            return Heard("", -math.inf, False)
        confidence = (score - free) / seconds
        return Heard(text, confidence, confidence >= self.min_confidence)


def _decode(decoder: Any, pcm: bytes) -> tuple[str, float | None]:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    if hyp is None or hyp.score <= 0:
        return "", None
    return str(hyp.hypstr), math.log(hyp.score)

"""The device's own recogniser for when the cloud cannot be reached: pocketsphinx, held to the command grammar.

pocketsphinx (BSD-2-Clause) ships its US-English acoustic model and pronunciation dictionary inside its wheel
(aarch64 wheels for Python 3.11 and 3.13), so nothing is downloaded. It decodes the recorded question against
the grammar of the local commands (:mod:`.grammar`, made from the same templates at start: a few hundred states,
a dictionary of the ~170 words they use, and up to four free phones before the command for the end of the wake
word in the pre-roll). A grammar finds the command sentence the audio is closest to — also for "turn on the
kitchen lights", which it hears as "turn off the kitchen timer" — so its words are checked: the same audio is
decoded again, free, with the model's general English language model (``en-us.lm.bin``, in the wheel too), and the
command stands only if that free transcript is the same command, or has every number the command has and says
mostly the same words (:data:`AGREEMENT`) or sounds mostly the same (:data:`SOUNDS_AGREEMENT` of the two sentences'
phones, from the dictionary). The free recognition garbles words first, in noise and on unusual voices ("set a
timer for ten minutes" → "seven of a ten minute"), but keeps most of their sounds; a sentence that is not a command
differs in its sounds as well, and a wrong number is never let through. Figures: scripts/bench_offline.py and
docs/performance.md. Only "please" may follow a command in the grammar.

A second pass against a free loop of phones was tried first as a confidence (the grammar's score against the
best unconstrained score): pocketsphinx normalises its path scores frame by frame, and the difference separated
nothing, so it is not used.

Loading takes ~1 s and ~80 MB (the general language model), so it happens only when the appliance first finds
itself offline; ``verify=False`` leaves the check out (~0.2 s, a few MB).
"""

from __future__ import annotations

import difflib
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.local.offline import grammar
from appliance.ports import SAMPLE_RATE

#: how much of the grammar's words the free transcript must share (difflib's ratio) when it is not the same
#: command itself
AGREEMENT = 0.6
#: or how much of their phones, when the free transcript also has every number of the command's words
SOUNDS_AGREEMENT = 0.65


@dataclass(frozen=True)
class Heard:
    """What the recogniser made of a question: the words of a whole command ("" when no path reached the end of
    one), and what the free recognition heard (None when not checked)."""

    text: str
    free: str | None = None
    agreement: float = 1.0  # the share of words the two have in common (1.0 when not checked)
    sounds: float = 1.0  # the share of their phones in common (1.0 when not checked)


class PocketsphinxRecogniser:
    """Command recognition on the device. ``load`` once (any thread), then ``hear`` a recording at a time."""

    def __init__(
        self,
        templates: dict[str, Any],
        *,
        enabled: frozenset[str] | None = None,
        verify: bool = True,
    ) -> None:
        self._templates = templates
        self._enabled = enabled
        self.verify = verify
        self._free: Any = None
        self._lock = threading.Lock()
        self._decoder: Any = None

    @staticmethod
    def general_model() -> Path:
        """The general English language model the check of the grammar's words decodes with."""
        from pocketsphinx import get_model_path

        return Path(get_model_path("en-us")) / "en-us.lm.bin"

    @property
    def loaded(self) -> bool:
        return self._decoder is not None

    def load(self) -> None:
        """Builds the grammar and the decoder (idempotent)."""
        with self._lock:
            if self._decoder is not None:
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
                self._decoder = Decoder(dict=str(words), fsg=str(fsg), **common)
            if self.verify:
                self._free = Decoder(lm=str(model / "en-us.lm.bin"), dict=str(model / "cmudict-en-us.dict"), **common)

    def hear(self, audio: np.ndarray) -> Heard:
        """The command words in 16 kHz mono int16 ``audio``."""
        self.load()
        pcm = np.ascontiguousarray(audio, dtype=np.int16).tobytes()
        with self._lock:
            text = grammar.without_fillers(_decode(self._decoder, pcm))
            if not text or self._free is None:
                return Heard(text)
            free = _decode(self._free, pcm)
            phones = _phones(self._decoder, text), _phones(self._free, free)
        said = difflib.SequenceMatcher(a=text.split(), b=free.split()).ratio()
        sounds = difflib.SequenceMatcher(a=phones[0], b=phones[1], autojunk=False).ratio()
        return Heard(text, free, said, sounds)


def _decode(decoder: Any, pcm: bytes) -> str:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return "" if hyp is None else str(hyp.hypstr)


def _phones(decoder: Any, text: str) -> list[str]:
    """The phones of ``text``'s words in ``decoder``'s dictionary (a word it does not know adds none)."""
    return [phone for word in text.split() for phone in (decoder.lookup_word(word) or "").split()]

"""The offline recogniser's grammar, made from the same templates as the local commands (``local/en.yaml``).

hassil turns the templates into a word graph (``hassil.fst.intents_to_fst``) with each list left as one
``{name}`` label. Here that graph becomes a finite-state grammar in pocketsphinx's FSG text format:

- a number list becomes a small graph of number words ("one" … "nineteen", the tens with an optional unit,
  "… hundred [and] …"), one copy wherever a number is said, so the grammar stays a few thousand transitions
  instead of every number spelled out in every place (the range itself is checked afterwards, when hassil
  matches the words);
- a text list becomes its values' words; the skip words ("please", "can you") are allowed before and after;
- written forms that are not said as written (``%``, "hrs", "mins") are dropped or spoken ("percent"), and
  so is any path with a word the pronunciation dictionary does not have.

The recogniser's words are then matched by :class:`~appliance.local.matcher.CommandMatcher` like a
transcript, so the grammar only has to allow the sentences, never to say what they mean.
Pure: template data in, grammar text and word list out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hassil import Intents, RangeSlotList, TextChunk, TextSlotList
from hassil.fst import EPS, intents_to_fst

from appliance.local.offline.number_names import ONES, TEENS, TENS

#: written forms and how they are said ("" = never said that way: the path is dropped)
SPOKEN = {"%": "percent", "hr": "", "hrs": "", "min": "", "mins": "", "sec": "", "secs": ""}

_LIST = re.compile(r"\{(\w+)(?::\w+)?\}")


class GrammarError(ValueError):
    """The templates cannot be made into a grammar (a list this module does not know how to say)."""


@dataclass
class Graph:
    """A word graph: transitions (from, to, word or None for an empty step) and one start and final state."""

    states: int = 1
    arcs: list[tuple[int, int, str | None]] = field(default_factory=list)
    start: int = 0
    final: int = 0

    def state(self) -> int:
        self.states += 1
        return self.states - 1

    def words(self, src: int, dst: int, words: Iterable[str]) -> None:
        """A path from ``src`` to ``dst`` saying ``words`` in order (an empty step when there are none)."""
        seq = list(words)
        if not seq:
            self.arcs.append((src, dst, None))
            return
        at = src
        for i, word in enumerate(seq):
            nxt = dst if i == len(seq) - 1 else self.state()
            self.arcs.append((at, nxt, word))
            at = nxt

    def vocabulary(self) -> set[str]:
        return {w for _, _, w in self.arcs if w is not None}

    def to_fsg(self, name: str = "commands") -> str:
        """pocketsphinx's FSG text format; each state's transitions share its probability equally."""
        out: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
        for src, dst, word in self.arcs:
            out[src].append((dst, word))
        lines = [f"FSG_BEGIN {name}", f"NUM_STATES {self.states}", f"START_STATE {self.start}"]
        lines.append(f"FINAL_STATE {self.final}")
        for src in sorted(out):
            p = 1.0 / len(out[src])
            for dst, word in out[src]:
                lines.append(f"TRANSITION {src} {dst} {p:.6f}" + (f" {word}" if word else ""))
        lines.append("FSG_END")
        return "\n".join(lines) + "\n"


def number_graph(g: Graph, src: int, dst: int, largest: int) -> None:
    """Number words from zero up to ``largest`` (at most 999) between ``src`` and ``dst``."""
    if largest >= 0:
        g.words(src, dst, ["zero"])
    under_100 = g.state()  # a number 1..99 ends at dst
    for word in ONES + TEENS:
        g.words(under_100, dst, [word])
    ten = g.state()
    for word in TENS:
        g.words(under_100, ten, [word])
    g.words(ten, dst, [])
    for word in ONES:
        g.words(ten, dst, [word])
    g.words(src, under_100, [])
    if largest >= 100:
        hundred = g.state()
        for word in ["a", "one"] + ONES[1 : min(9, largest // 100)]:
            g.words(src, hundred, [word, "hundred"])
        g.words(hundred, dst, [])
        g.words(hundred, under_100, [])
        g.words(hundred, under_100, ["and"])


def text_words(text: str, known: Callable[[str], bool]) -> list[str] | None:
    """The words of a piece of template text as said, or None when one of them cannot be said."""
    words: list[str] = []
    for raw in re.split(r"[\s\-]+", text.strip().lower()):
        token = raw.strip(',.!?;:"()')
        if not token:
            continue
        spoken = SPOKEN.get(token, token)
        if not spoken or not known(spoken):
            return None
        words.extend(spoken.split())
    return words


#: the skip words allowed after a command: any other would let a longer sentence end as a command ("what time
#: is the match" heard as "what time is it now")
TRAILING = ("please",)


def build(data: dict[str, Any], known: Callable[[str], bool], *, enabled: Iterable[str] | None = None) -> Graph:
    """The grammar of the intents in ``data`` (all, or those ``enabled``) as a word graph. The skip words may
    come before a command; after one, only :data:`TRAILING`."""
    intents = Intents.from_dict(data)
    # hassil labels a reference by its slot name: {hours:hours_half} is the list "hours" in the slot "hours_half"
    aliases = dict(re.findall(r"\{(\w+):(\w+)\}", yaml_text(data)))
    slots = {slot: name for name, slot in aliases.items()}
    skip_words = [text_words(w, known) for w in data.get("skip_words", [])]
    wanted = set(enabled) if enabled is not None else None
    fst = intents_to_fst(intents, intent_names=wanted).remove_spaces()
    leading = {fst.start}  # the states before any word: reached from the start by empty steps only
    todo = [fst.start]
    while todo:
        for arc in fst.arcs[todo.pop()]:
            if arc.in_label == EPS and arc.to_state not in leading:
                leading.add(arc.to_state)
                todo.append(arc.to_state)
    trailing = [w for w in skip_words if w and " ".join(w) in TRAILING]
    g = Graph()
    g.final = g.state()
    mapped: dict[int, int] = {fst.start: g.start}

    def state_of(fst_state: int) -> int:
        if fst_state not in mapped:
            mapped[fst_state] = g.final if fst_state in fst.final_states else g.state()
        return mapped[fst_state]

    for src, arcs in fst.arcs.items():
        for arc in arcs:
            a, b = state_of(src), state_of(arc.to_state)
            label = arc.in_label
            if label == EPS:
                g.arcs.append((a, b, None))
            elif label == "<skip>":
                for words in skip_words if src in leading else trailing:
                    if words:
                        g.words(a, b, words)
            else:
                _label(g, a, b, label, intents, slots, known)
    for fst_state in fst.final_states:
        if fst_state in mapped and mapped[fst_state] != g.final:
            g.arcs.append((mapped[fst_state], g.final, None))
    if not any(b == g.final for _a, b, _w in g.arcs):
        raise GrammarError("none of the command templates can be said (only number ranges and word lists can)")
    return g


def _label(
    g: Graph, a: int, b: int, label: str, intents: Intents, slots: dict[str, str], known: Callable[[str], bool]
) -> None:
    """One label of hassil's graph: plain words, or words around list references such as ``{minutes}-minute``."""
    parts = [p for p in _LIST.split(label)]
    # _LIST.split alternates text, list name, text, ...
    at = a
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt = b if last else g.state()
        if i % 2 == 0:
            words = text_words(part, known)
            if words is None:
                return  # cannot be said: the path is dropped (its states stay unreachable or dead)
            g.words(at, nxt, words)
        else:
            _list(g, at, nxt, slots.get(part, part), intents, known)
        at = nxt


def _list(g: Graph, a: int, b: int, name: str, intents: Intents, known: Callable[[str], bool]) -> None:
    slot_list = intents.slot_lists.get(name)
    if isinstance(slot_list, RangeSlotList):
        number_graph(g, a, b, slot_list.stop)
    elif isinstance(slot_list, TextSlotList):
        for value in slot_list.values:
            words = text_words(value.text_in.text, known) if isinstance(value.text_in, TextChunk) else None
            if words:
                g.words(a, b, words)
    else:
        raise GrammarError(f"the list {{{name}}} cannot be said: only number ranges and word lists can")


def yaml_text(data: Any) -> str:
    """Every string in the template data, joined (where the ``{list:slot}`` references are written)."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        return " ".join(yaml_text(v) for v in data.values())
    if isinstance(data, list):
        return " ".join(yaml_text(v) for v in data)
    return ""


def dictionary(vocabulary: Iterable[str], cmudict: Iterable[str]) -> str:
    """The lines of the pronunciation dictionary (``cmudict``'s lines) for ``vocabulary``, alternates included."""
    wanted = set(vocabulary)
    lines = []
    for line in cmudict:
        head = line.split(" ", 1)[0]
        if head.split("(", 1)[0] in wanted:
            lines.append(line.rstrip("\n"))
    return "\n".join(lines) + "\n"


def minimal(g: Graph) -> Graph:
    """The same sentences as ``g`` in the smallest deterministic graph (Brzozowski: reverse and determinize,
    twice). Shared beginnings and endings become shared states, so the recogniser follows one path for "set a
    timer for" however many sentences begin that way: decoding costs what the graph's width does."""
    return _determinized(_reversed(_determinized(_reversed(g))))


def _reversed(g: Graph) -> Graph:
    r = Graph(states=g.states, arcs=[(b, a, w) for a, b, w in g.arcs], start=g.final, final=g.start)
    return r


def _determinized(g: Graph) -> Graph:
    """Subset construction over empty steps; the result has one final state (empty steps from each state that
    holds the old final one)."""
    empty: dict[int, list[int]] = defaultdict(list)
    out: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for a, b, w in g.arcs:
        if w is None:
            empty[a].append(b)
        else:
            out[a].append((w, b))

    def closure(states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        todo = list(seen)
        while todo:
            for nxt in empty[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    d = Graph()
    d.final = d.state()
    start = closure([g.start])
    ids = {start: d.start}
    todo = [start]
    while todo:
        subset = todo.pop()
        here = ids[subset]
        if g.final in subset:
            d.arcs.append((here, d.final, None))
        moves: dict[str, set[int]] = defaultdict(set)
        for s in subset:
            for w, b in out[s]:
                moves[w].add(b)
        for w in sorted(moves):
            target = closure(moves[w])
            if target not in ids:
                ids[target] = d.state()
                todo.append(target)
            d.arcs.append((here, ids[target], w))
    return d


_VALUES = {w: i + 1 for i, w in enumerate(ONES)} | {w: 10 + i for i, w in enumerate(TEENS)}
_VALUES |= {w: 20 + 10 * i for i, w in enumerate(TENS)} | {"zero": 0}


def digits(text: str) -> str:
    """The number words of the grammar as digits ("a hundred and twenty five minutes" → "125 minutes"), the
    way a transcript writes them and the matcher reads them best. Other words are left alone."""
    out: list[str] = []
    words = text.split()
    i = 0
    while i < len(words):
        value, used = _number(words, i)
        if used:
            out.append(str(value))
            i += used
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _number(words: list[str], i: int) -> tuple[int, int]:
    """The number said at ``words[i:]`` and how many words it took (0 when none)."""
    j, value = i, 0
    if j + 1 < len(words) and words[j + 1] == "hundred" and (words[j] == "a" or words[j] in ONES):
        value = 100 * (1 if words[j] == "a" else _VALUES[words[j]])
        j += 2
        if j + 1 < len(words) and words[j] == "and" and words[j + 1] in _VALUES and words[j + 1] != "zero":
            j += 1
    if j < len(words) and words[j] in _VALUES and not (value and words[j] == "zero"):
        unit = _VALUES[words[j]]
        j += 1
        if unit >= 20 and unit % 10 == 0 and j < len(words) and words[j] in ONES:
            unit += _VALUES[words[j]]
            j += 1
        value += unit
    return value, j - i


#: the acoustic model's phones, each also a one-phone "word" of the dictionary (``_aa`` says AA)
PHONES = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
FILLER_PREFIX = "_"


def with_lead_in(g: Graph, most: int = 4) -> Graph:
    """``g`` after up to ``most`` free phones: the recording begins with the pre-roll, which may hold the end
    of the wake word ("…vis"); forced into the grammar it would become a word of the command."""
    lead = Graph(states=g.states, arcs=list(g.arcs), start=g.states, final=g.final)
    lead.states += 1
    lead.arcs.append((lead.start, g.start, None))
    at = lead.start
    for _ in range(most):
        nxt = lead.state()
        for phone in PHONES:
            lead.arcs.append((at, nxt, FILLER_PREFIX + phone.lower()))
        lead.arcs.append((nxt, g.start, None))
        at = nxt
    return lead


def filler_dictionary() -> str:
    """The dictionary lines of the one-phone filler words."""
    return "".join(f"{FILLER_PREFIX}{p.lower()} {p}\n" for p in PHONES)


def without_fillers(text: str) -> str:
    return " ".join(w for w in text.split() if not w.startswith(FILLER_PREFIX))

"""The few metric types the appliance needs, and the Prometheus text exposition format (version 0.0.4) they
are written in.

No client library: the appliance counts a handful of things, and the format is a dozen lines of rules
(https://prometheus.io/docs/instrumenting/exposition_formats/). The tests read every exposition back with
``prometheus_client``'s own parser.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Labels
    value: float


@dataclass
class Family:
    """One metric with its help text, its type and its samples (the lines under its ``# TYPE``)."""

    name: str
    help: str
    type: str  # counter, gauge, histogram, untyped
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> None:
        self.samples.append(Sample(self.name + suffix, tuple(labels.items()), float(value)))


class Counter:
    """Counts up, by label values (the values a label may take are set up front, at 0, so that a rate is
    defined from the first scrape on)."""

    def __init__(self, name: str, help: str, label: str = "", values: Iterable[str] = ()) -> None:
        _check(name, label)
        self.name, self.help, self.label = name, help, label
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {v: 0.0 for v in values} if label else {"": 0.0}

    def inc(self, value: str = "", by: float = 1.0) -> None:
        with self._lock:
            self._counts[value] = self._counts.get(value, 0.0) + by

    def get(self, value: str = "") -> float:
        with self._lock:
            return self._counts.get(value, 0.0)

    def family(self) -> Family:
        family = Family(self.name, self.help, "counter")
        with self._lock:
            counts = dict(self._counts)
        for value, count in counts.items():
            family.add(count, **({self.label: value} if self.label else {}))
        return family


class Histogram:
    """Observations in cumulative buckets (``le``), with their sum and count."""

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        _check(name, "")
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError(f"{name}: buckets must be distinct and increasing")
        self.name, self.help = name, help
        self.buckets = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        with self._lock:
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
            self._sum += value
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def family(self) -> Family:
        family = Family(self.name, self.help, "histogram")
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        for bound, n in zip(self.buckets, counts, strict=True):
            family.add(n, "_bucket", le=format_value(bound))
        family.add(count, "_bucket", le="+Inf")
        family.add(total, "_sum")
        family.add(count, "_count")
        return family


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\")


def render(families: Iterable[Family]) -> str:
    """The text exposition of ``families``, each with its ``# HELP`` and ``# TYPE``; a family without samples
    (a figure this machine does not have, such as the CPU temperature off a Pi) is left out."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels)
            lines.append(
                f"{sample.name}{{{labels}}} {format_value(sample.value)}"
                if labels
                else f"{sample.name} {format_value(sample.value)}"
            )
    return "\n".join(lines) + "\n" if lines else ""


def _check(name: str, label: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"not a metric name: {name!r}")
    if label and (not _LABEL.match(label) or label.startswith("__") or label == "le"):
        raise ValueError(f"not a label name: {label!r}")

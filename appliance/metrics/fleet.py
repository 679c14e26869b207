"""The fleet's table: each device's metrics file read back and summed up in one row (``scripts/deploy
status``). Standard library only, so the deploy script can import it from the checkout with any Python.

The reader takes the text exposition format the appliance writes (and any other: comments are skipped,
samples are ``name{label="value",...} value [timestamp]``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}

Labels = tuple[tuple[str, str], ...]


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of an exposition: (name, sorted labels) -> value. A line that is not a sample is skipped."""
    samples: dict[tuple[str, Labels], float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        name, raw_labels, raw_value = m.groups()
        labels: list[tuple[str, str]] = []
        rest = raw_labels or ""
        while rest.strip():
            lm = _LABEL.match(rest)
            if not lm:
                break
            labels.append((lm.group(1), re.sub(r"\\(.)", lambda e: _UNESCAPE.get(e.group(1), e.group(0)), lm.group(2))))
            rest = rest[lm.end() :]
        try:
            value = float(raw_value)
        except ValueError:
            continue
        samples[(name, tuple(sorted(labels)))] = value
    return samples


@dataclass
class Metrics:
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Metrics:
        return cls(parse(text))

    def values(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(dict(labels), v) for (n, labels), v in self.samples.items() if n == name]

    def get(self, name: str, **labels: str) -> float | None:
        for found, value in self.values(name):
            if all(found.get(k) == v for k, v in labels.items()):
                return value
        return None

    def total(self, name: str) -> float | None:
        found = self.values(name)
        return sum(v for _, v in found) if found else None

    def quantile(self, q: float, name: str) -> float | None:
        """The ``q`` quantile of histogram ``name``, interpolated within its bucket as PromQL's
        histogram_quantile does (the highest finite bound when it falls in the +Inf bucket)."""
        buckets = sorted((float(labels["le"]), v) for labels, v in self.values(name + "_bucket") if "le" in labels)
        if not buckets or buckets[-1][1] <= 0:
            return None
        rank = q * buckets[-1][1]
        lower, below = 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                if math.isinf(bound):
                    return lower
                if count == below:
                    return bound
                return lower + (bound - lower) * (rank - below) / (count - below)
            lower, below = bound, count
        return None


#: the table's columns, in order
COLUMNS = (
    "DEVICE",
    "VERSION",
    "STATE",
    "UP",
    "TURNS",
    "ANSWERED",
    "ERRORS",
    "FIRST AUDIO p50/p95",
    "WAKES",
    "FALSE",
    "ARB W/L",
    "TEMP",
    "THROTTLED",
    "RSS",
)


def row(device: str, text: str | None, status: Mapping[str, object] | None = None) -> list[str]:
    """One device's row from its metrics file's text (None: no file) and its `appliance ctl status` reply."""
    status = status or {}
    state = str(status.get("state") or "down")
    if text is None:
        return [device, str(status.get("version") or "?"), state] + ["-"] * (len(COLUMNS) - 4) + ["no metrics"]
    m = Metrics.of(text)
    info = m.values("appliance_info")
    version = info[0][0].get("version", "?") if info else str(status.get("version") or "?")
    turns = m.total("appliance_turns_total")
    answered = m.get("appliance_turns_total", outcome="answered")
    p50, p95 = m.quantile(0.5, "appliance_first_audio_seconds"), m.quantile(0.95, "appliance_first_audio_seconds")
    won, lost = m.get("appliance_arbitration_total", result="won"), m.get("appliance_arbitration_total", result="lost")
    throttled_now = [c for c, v in m.values("appliance_throttled") if v]
    throttled_ever = [c for c, v in m.values("appliance_throttled_since_boot") if v]
    if not m.values("appliance_throttled"):
        throttled = "-"
    elif throttled_now:
        throttled = "NOW " + ",".join(sorted(c.get("condition", "?") for c in throttled_now))
    elif throttled_ever:
        throttled = "since boot"
    else:
        throttled = "no"
    rss = m.get("appliance_memory_rss_bytes")
    temperature = m.get("appliance_cpu_temperature_celsius")
    return [
        device,
        version,
        state,
        _duration(m.get("appliance_uptime_seconds")),
        _count(turns),
        f"{answered / turns:.0%}" if turns and answered is not None else "-",
        _count(m.total("appliance_errors_total")),
        f"{_seconds(p50)} / {_seconds(p95)}" if p50 is not None and p95 is not None else "-",
        _count(m.total("appliance_wakes_total")),
        _count(m.total("appliance_false_wakes_total")),
        f"{_count(won)}/{_count(lost)}" if won is not None and lost is not None else "-",
        f"{temperature:.1f} °C" if temperature is not None else "-",
        throttled,
        f"{rss / 2**20:.0f} MB" if rss is not None else "-",
    ]


def table(rows: Iterable[list[str]]) -> str:
    """Aligned columns under a header; a row may carry one more cell (a note) printed at its end."""
    rows = list(rows)
    widths = [len(c) for c in COLUMNS]
    for r in rows:
        for i, cell in enumerate(r[: len(COLUMNS)]):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + r[len(COLUMNS) :]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s"

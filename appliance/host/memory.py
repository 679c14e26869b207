"""glibc's allocator, set up for a small device (issue 31; the figures are scripts/bench_memory.py's).

Two of glibc's defaults cost this appliance memory on a 512 MB Pi:

- **The mmap threshold grows.** A block over 128 KB is mmapped and handed back to the kernel when freed, but
  glibc then raises the threshold to the size of that block, so from then on blocks of that size come from the
  heap and stay in the process after they are freed (audio buffers, the turn model's features, parsed
  messages). A fixed threshold gives them back.
- **One arena per thread**, up to 8 per core, each keeping what its thread freed. The appliance runs a dozen
  threads (audio, wake word, warm-ups, cloud sockets); two arenas are plenty for them.

Together: 11 MB less at start and 10 MB less at the peak of two turns (scripts/bench_memory.py: 170 and 203 MB,
181 and 213 without). What is not freed (onnxruntime's arena, the libraries' own caches) is not
affected, and neither costs measurable CPU: the turn model's activations stay in its arena
(appliance/listening/endpoint/smart_turn.py says why).

Both are set with ``mallopt`` before the appliance builds its engines and starts their threads (an arena a thread
already has stays its own; later ones share the two); elsewhere than glibc (musl) this
does nothing. The environment's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_ARENA_MAX`` still win (for measuring).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: blocks from this size on are mmapped and given back when freed (glibc's initial default, kept fixed)
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Fix glibc's mmap threshold and cap its arenas; False where that is not glibc (nothing changed)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # a static or unusual build: keep the defaults
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and done
    if "MALLOC_ARENA_MAX" not in os.environ:
        done = mallopt(M_ARENA_MAX, ARENA_MAX) == 1 and done
    if not done:
        log.debug("mallopt refused a setting; glibc's defaults stay")
    return done

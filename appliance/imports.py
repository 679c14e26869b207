"""One lock for importing the cloud SDKs' modules from background threads.

The SDKs import their modules lazily, and two threads importing one package's modules in different orders make
importlib raise ``_DeadlockError`` in one of them (seen in CI: the transcriber's warm-up and the realtime preload,
both in ``openai.types``). Every background warm-up, every first build of a cloud client and every lazy load of
an SDK on a fallback path holds :data:`SDK_IMPORTS` while it imports. Re-entrant: a warm-up may build a client.
"""

from __future__ import annotations

import threading

SDK_IMPORTS = threading.RLock()

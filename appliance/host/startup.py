"""Exit codes, the one line a failed start prints, and how the start's background warm-ups report a failure.

systemd restarts the service after any exit except those in the unit's ``RestartPreventExitStatus``: a
failure a restart cannot fix (a bad setting, a missing model, device or file) must exit with
``EXIT_CONFIG``, or the appliance restart-loops instead of stopping with its message in the journal.

| code | meaning                                                         | systemd (Restart=always)  |
|------|-----------------------------------------------------------------|---------------------------|
| 0    | stopped by SIGTERM/SIGINT, or the --mic file ended               | restarted, unless it was  |
|      |                                                                  | `systemctl stop`          |
| 1    | a failure at run time, or a start failure a retry may fix        | restarted after 3 s       |
| 2    | configuration or missing resource: settings file, wake model,    | not restarted             |
|      | audio device, --mic/--camera file, control socket in use; also   | (RestartPreventExitStatus |
|      | a command-line usage error                                       | =2)                       |
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable

from appliance import imports
from appliance.errors import ApplianceError, ErrorKind, MissingResource

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

#: Error kinds that, raised while the appliance starts, name something only a person can fix.
_NEEDS_A_PERSON = (ErrorKind.CONFIG, ErrorKind.CAMERA)


class StartError(Exception):
    """A start that must not be retried for a reason outside ApplianceError (the control socket path is
    taken). The message is the whole line printed."""


def start_failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception raised while the appliance starts."""
    from appliance.audio.wavfile import AudioFileError
    from appliance.config.settings import SettingsError

    if isinstance(exc, SettingsError):
        return EXIT_CONFIG, f"config error: {exc}"
    if isinstance(exc, (AudioFileError, StartError)):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, MissingResource) or (isinstance(exc, ApplianceError) and exc.kind in _NEEDS_A_PERSON):
        return EXIT_CONFIG, exc.message
    if isinstance(exc, ApplianceError):
        return EXIT_FAILURE, exc.message
    return EXIT_FAILURE, f"{type(exc).__name__}: {exc}"


#: OSError numbers of a network that is not there (yet): at boot, Wi-Fi may come up after the appliance.
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.ETIMEDOUT: "timed out",
    errno.ENETUNREACH: "network unreachable",
    errno.ENETDOWN: "network down",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EHOSTDOWN: "host down",
}


def network_failure(exc: BaseException) -> str | None:
    """What went wrong, in a few words, when ``exc`` is a network failure a start must expect (refused, timed
    out, unreachable, a name that does not resolve), found anywhere in its chain of causes (the SDKs wrap the
    socket's error twice); None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ApplianceError) and current.kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT):
            return current.message
        if isinstance(current, socket.gaierror):
            return f"name lookup failed ({current.strerror or current})"
        if isinstance(current, TimeoutError):
            return "timed out"
        if isinstance(current, OSError) and current.errno in _NETWORK_ERRNOS:
            return _NETWORK_ERRNOS[current.errno]
        current = current.__cause__ or current.__context__
    return None


#: Held by every background warm-up and every first build of a cloud client (``wiring.Deferred``): one at a
#: time (:mod:`appliance.imports`).
SDK_IMPORTS = imports.SDK_IMPORTS


def warm_up(what: str, work: Callable[[], object]) -> None:
    """Run one of the start's background warm-ups (``what`` names it in the log), one at a time
    (:data:`SDK_IMPORTS`). It is only a head start: whatever it prepares is made again when first needed, and
    a failure that matters is reported then, as a typed error. So an expected failure is one line: a network
    that is not up yet (refused, timed out, unreachable, DNS) or an ApplianceError. Anything else is a bug,
    logged with its traceback."""
    try:
        with SDK_IMPORTS:
            work()
    except Exception as exc:
        reason = network_failure(exc)
        if reason is not None:
            log.warning("%s: not prepared at start (%s); tried again when needed", what, reason)
        elif isinstance(exc, ApplianceError):
            log.warning("%s: not prepared at start (%s)", what, exc.message)
        else:
            log.exception("%s: not prepared at start", what)

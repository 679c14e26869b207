"""Exit codes, and the one line a failed start prints.

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

from .errors import ApplianceError, ErrorKind

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

#: Error kinds that, raised while the appliance starts, name something only a person can fix.
_NEEDS_A_PERSON = (ErrorKind.CONFIG, ErrorKind.CAMERA)


class MissingResource(ApplianceError):
    """A resource the appliance needs at start is absent (a model file, an audio device): restarting will
    not bring it back. The message says what is missing and then what to do."""

    def __init__(self, kind: ErrorKind, message: str, fix: str) -> None:
        super().__init__(kind, f"{message}: {fix}", stage="start")
        self.fix = fix


class StartError(Exception):
    """A start that must not be retried for a reason outside ApplianceError (the control socket path is
    taken). The message is the whole line printed."""


def start_failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception raised while the appliance starts."""
    from .audio.wavfile import AudioFileError
    from .settings import SettingsError

    if isinstance(exc, SettingsError):
        return EXIT_CONFIG, f"config error: {exc}"
    if isinstance(exc, (AudioFileError, StartError)):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, MissingResource) or (isinstance(exc, ApplianceError) and exc.kind in _NEEDS_A_PERSON):
        return EXIT_CONFIG, exc.message
    if isinstance(exc, ApplianceError):
        return EXIT_FAILURE, exc.message
    return EXIT_FAILURE, f"{type(exc).__name__}: {exc}"

"""What tools may do to the appliance itself (ports.Controls), backed by the app."""

from __future__ import annotations

from typing import Protocol

from appliance.core.parts import Ports
from appliance.ports import Timers


class Controllable(Protocol):
    """What the controls use of the app (appliance/core/app.py)."""

    ports: Ports

    def get_volume(self) -> float: ...

    def set_volume(self, value: float) -> float: ...

    def stop_turn(self) -> None: ...

    def reset_conversation(self) -> None: ...

    def camera_allowed(self) -> bool: ...


class ControlsView:
    """What tools may do (ports.Controls), backed by the app."""

    def __init__(self, app: Controllable) -> None:
        self._app = app

    def volume(self) -> float:
        return self._app.get_volume()

    def set_volume(self, value: float) -> float:
        return self._app.set_volume(value)

    def stop_turn(self) -> None:
        self._app.stop_turn()

    def reset_conversation(self) -> None:
        self._app.reset_conversation()

    def camera_allowed(self) -> bool:
        return self._app.camera_allowed()

    def timers(self) -> Timers | None:
        return self._app.ports.timers

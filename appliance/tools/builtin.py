"""The tools every appliance has: the date and time, the volume, stop, forgetting the conversation, and
the camera (``describe_image``, which lives with the camera code in ``appliance/camera/tool.py``).

They act on the appliance through ``ctx.controls`` (ports.Controls), never on the app directly, so they
run the same against the real app and in tests.
"""

from __future__ import annotations

import importlib
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Literal

from appliance.ports import ToolContext
from appliance.tools.registry import ToolRegistry
from appliance.tools.tool import ToolRegistrationError

#: Percentage points one "louder" / "quieter" moves the volume when the model gives no step.
VOLUME_STEP = 10


def get_current_time() -> str:
    """The current local date, time and time zone. Use it for any question about today's date, the day
    of the week or the time."""
    return describe_time(datetime.now().astimezone())


def describe_time(now: datetime) -> str:
    """A sentence the model can read out, e.g. "Tuesday 4 March 2025, 14:05 (Europe/Berlin, UTC+01:00)"."""
    offset = now.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "local time"
    zone = zone_name() or now.tzname() or ""
    where = f"{zone}, {offset}" if zone and zone not in offset else offset
    return f"{now:%A} {now.day} {now:%B %Y}, {now:%H:%M} ({where})"


def zone_name() -> str:
    """The IANA name of the local time zone (TZ, /etc/timezone, or the /etc/localtime link), or ""."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return time.tzname[0] if time.tzname else ""
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else ""


def set_volume(ctx: ToolContext, percent: int) -> str:
    """Set the speaker volume to a level.

    Args:
        percent: The new volume, from 0 (silent) to 100 (loudest).
    """
    if not 0 <= percent <= 100:
        return f"The volume must be between 0 and 100 percent; {percent} is not. Nothing was changed."
    value = ctx.controls.set_volume(percent / 100)
    return f"The volume is now {round(value * 100)} percent."


def change_volume(ctx: ToolContext, direction: Literal["up", "down"], step_percent: int | None = None) -> str:
    """Make the speaker louder or quieter than it is now.

    Args:
        direction: "up" for louder, "down" for quieter.
        step_percent: How many percentage points to change it by (default 10).
    """
    step = VOLUME_STEP if step_percent is None else max(1, min(100, abs(step_percent)))
    before = ctx.controls.volume()
    target = before + (step if direction == "up" else -step) / 100
    value = ctx.controls.set_volume(max(0.0, min(1.0, target)))
    if round(value * 100) == round(before * 100):
        limit = "loudest" if direction == "up" else "quietest"
        return f"The volume is already at its {limit} ({round(value * 100)} percent)."
    return f"The volume is now {round(value * 100)} percent (it was {round(before * 100)})."


def stop(ctx: ToolContext) -> str:
    """Stop talking and cancel what you are doing, when the user says stop, cancel, never mind, be quiet
    or that is enough. Say nothing after calling it."""
    ctx.controls.stop_turn()
    return "Stopped."


def reset_conversation(ctx: ToolContext) -> str:
    """Forget this conversation and start afresh, when the user asks you to forget what was said, start
    over or change the subject completely."""
    ctx.controls.reset_conversation()
    return (
        "The conversation has been reset: after this answer, nothing said before is remembered. "
        "Confirm it in a few words."
    )


def default_registry(*, camera: bool = True, plugins: bool = True) -> ToolRegistry:
    """The built-in tools (date/time, volume, stop, reset, describe_image unless ``camera`` is False)
    plus the tools of installed plugins."""
    registry = ToolRegistry()
    register_builtin_tools(registry, camera=camera)
    if plugins:
        registry.load_entry_points()
    return registry


def register_builtin_tools(registry: ToolRegistry, *, camera: bool = True) -> None:
    """Register the built-in tools; ``camera`` adds describe_image (from appliance/camera/tool.py)."""
    registry.register(get_current_time)
    registry.register(set_volume)
    registry.register(change_volume)
    registry.register(stop, ends_turn=True)
    registry.register(reset_conversation)
    if camera:
        register_describe_image(registry)


def register_describe_image(registry: ToolRegistry) -> None:
    """Register the camera's describe_image tool, importing its module only now (it is optional code).

    Raises ToolRegistrationError when the module or its parts are missing, so a broken install is
    reported at start-up instead of the model never being offered the camera."""
    try:
        camera_tool = importlib.import_module("appliance.camera.tool")
    except ImportError as exc:
        raise ToolRegistrationError(
            f"describe_image: cannot import appliance.camera.tool ({exc}); the camera tool is missing "
            "from this installation (or disable the camera: camera.enabled = false)"
        ) from exc
    function = getattr(camera_tool, "describe_image", None)
    description = getattr(camera_tool, "TOOL_DESCRIPTION", None)
    if not callable(function) or not isinstance(description, str):
        raise ToolRegistrationError(
            "describe_image: appliance/camera/tool.py must define describe_image(ctx, "
            "question=None) and a TOOL_DESCRIPTION string"
        )
    registry.register(
        function,
        name=getattr(camera_tool, "TOOL_NAME", "describe_image"),
        description=description,
        parameters=getattr(camera_tool, "TOOL_PARAMETERS", None),
    )

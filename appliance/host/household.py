"""The household's part of the wiring (issue #30): the service that arbitrates this device's wake words with
the other devices of its group and carries announcements, bound to the app. None (the device answers alone)
when the household is off, its secret is missing or the network will not let it join the group; the log says
why (never the secret)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.config.household import SECRET, secret_problem
from appliance.config.settings import Settings

if TYPE_CHECKING:
    from appliance.core.app import App
    from appliance.household.arbiter import Decision
    from appliance.household.service import Heard, Household

log = logging.getLogger(__name__)


def build(settings: Settings, app: Callable[[], App | None], closers: list[Callable[[], None]]) -> Household | None:
    house = settings.household
    if not house.enabled:
        return None
    secret = settings.secrets.get(*SECRET)
    problem = secret_problem(True, secret)
    if problem:
        log.error("household: %s", problem)
        return None
    from appliance.core import machine as m
    from appliance.household.service import Household

    def decided(decision: Decision) -> None:
        current = app()
        if current is not None:
            current.inbox.put(
                m.Arbitrated(
                    decision.won,
                    decision.winner,
                    decision.reason.value,
                    decision.peers,
                    decision.margin_db,
                    decision.ms,
                )
            )

    def announced(heard: Heard) -> str:
        current = app()
        if current is None:
            return "starting"
        reply = current.command("announce", (heard.text,))
        return "" if reply.get("ok") else str(reply.get("error") or "refused")

    try:
        service = Household(house, secret, decided, announced).start()
    except OSError as exc:
        log.error(
            "household: cannot join %s:%d (%s): the device answers alone",
            house.multicast_group,
            house.port,
            exc.strerror or exc,
        )
        return None
    closers.append(service.close)
    log.info("household: %r in group %r on %s:%d", service.device, house.group, house.multicast_group, house.port)
    return service

"""A household of devices on one LAN, with no server: only the device that heard the wake word best answers
(:mod:`.arbiter`, over signed UDP multicast claims, :mod:`.claim` and :mod:`.transport`), and an announcement
reaches every device with a per-device acknowledgement (:mod:`.announce`). :mod:`.service` ties them together
for the app; nothing here imports the core or the host (layer 1)."""

"""The command line: ``appliance run | ctl | doctor | enroll | wake | config``."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from pathlib import Path

from appliance import __version__
from appliance.config.settings import Settings, SettingsError, describe, load
from appliance.core import commands

log = logging.getLogger("appliance")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="appliance", description="A voice assistant appliance for the Raspberry Pi.")
    p.add_argument("--version", action="version", version=f"appliance {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the appliance (real devices unless told otherwise)")
    run.add_argument("--config", help="settings file (default /etc/appliance/config.toml if present)")
    run.add_argument(
        "--mic",
        metavar="PATH.wav",
        help="read the microphone from a WAV file (any rate/channels), "
        "at real-time pace; exit 0 when it ends and the turn in progress is done",
    )
    run.add_argument("--speaker", metavar="PATH.wav", help="write everything played to a 16-bit WAV file")
    run.add_argument("--camera", metavar="PATH", help="the camera returns this JPEG (or cycles through a folder)")
    run.add_argument("--events", metavar="PATH", help="write the event stream as JSON lines ('-' = stdout)")
    run.add_argument("--control-socket", metavar="PATH", help="Unix socket for `appliance ctl`")
    run.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="speed of the WAV microphone/speaker: 1 = real time (default), 0 = as fast as possible",
    )
    run.add_argument(
        "--mic-start-at",
        type=float,
        metavar="UNIX_TIME",
        help="start the WAV microphone at this wall-clock time (several simulated devices hearing one room)",
    )
    run.add_argument("--state-dir", help="where cached phrases live (default $STATE_DIRECTORY under systemd)")
    run.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default from settings)")

    ctl = sub.add_parser(
        "ctl",
        help=f"talk to a running appliance: {commands.summary()}",
        epilog="commands:\n" + commands.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ctl.add_argument("--socket", help="control socket (default from settings / $RUNTIME_DIRECTORY)")
    ctl.add_argument("--config", help="settings file")
    ctl.add_argument("args", nargs=argparse.REMAINDER)

    doctor = sub.add_parser("doctor", help="check the hardware, the keys and the cloud, and explain fixes")
    doctor.add_argument("--config", help="settings file")

    from appliance.wake.enroll_args import add_arguments as enroll_arguments

    enroll_arguments(
        sub.add_parser("enroll", help="teach the wake word your voice: say it 3-5 times (--remove undoes)")
    )

    from appliance.wake.train.args import add_arguments as wake_arguments

    wake_arguments(sub.add_parser("wake", help="wake words: `train PHRASE --out DIR` makes a model of your own"))

    config = sub.add_parser("config", help="settings: `check FILE` validates, `reference` documents every key")
    config.add_argument("action", choices=["check", "reference"])
    config.add_argument("file", nargs="?")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "wake":
        from appliance.wake.train.command import main as wake_main

        return wake_main(args)
    try:
        if args.command == "config":
            if args.action == "reference":
                print(describe())
                return 0
            if not args.file:
                print("appliance config check: name the file to check", file=sys.stderr)
                return 2
            load(args.file)
            print(f"{args.file}: OK")
            return 0
        settings = load(args.config)
    except SettingsError as exc:
        print(f"appliance: config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        return _run(args, settings)
    if args.command == "ctl":
        from appliance.host.control import default_socket_path
        from appliance.host.control_client import ctl_main

        return ctl_main(args.args, args.socket or default_socket_path(settings, os.environ))
    if args.command == "enroll":
        from appliance.host.enroll_command import main as enroll_main

        return enroll_main(args, settings)
    if args.command == "doctor":
        from appliance.host.doctor import run_doctor
        from appliance.host.logs import setup_logging

        setup_logging(settings.logging.level, settings.secrets)
        return run_doctor(settings)
    return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.core.app import App
    from appliance.events import EventBus, JsonLinesSink
    from appliance.host.logs import setup_logging
    from appliance.host.systemd import Notifier
    from appliance.host.wiring import RunOptions, build

    setup_logging(args.log_level or settings.logging.level, settings.secrets)
    if not faulthandler.is_enabled():
        # a crash in a native library (a model runtime, PortAudio) leaves every thread's Python stack in the
        # journal before systemd restarts the appliance
        faulthandler.enable()
    bus = EventBus()
    events_file = None
    if args.events:
        events_file = sys.stdout if args.events == "-" else open(args.events, "w", encoding="utf-8")  # noqa: SIM115
        bus.subscribe(JsonLinesSink(events_file, redact=settings.secrets.redact))
    if args.mic and not Path(args.mic).is_file():
        print(f"appliance: --mic {args.mic}: no such file", file=sys.stderr)
        return 2
    state_dir = args.state_dir or os.environ.get("STATE_DIRECTORY", "").split(":")[0] or None
    options = RunOptions(mic=args.mic, speaker=args.speaker, camera=args.camera, pace=args.pace, state_dir=state_dir)
    options.mic_start_at = args.mic_start_at
    notifier = Notifier()
    # The control socket is claimed first: a second instance must stop before it opens the devices the first
    # one holds, and a path that is not a stale socket must stop the start (exit 2), never be deleted.
    from appliance.host.control import ControlServer, default_socket_path
    from appliance.host.startup import EXIT_CONFIG, StartError

    started: list[App] = []
    control = None
    socket_path = args.control_socket or default_socket_path(settings, os.environ)
    if socket_path:
        control = ControlServer(
            socket_path,
            lambda cmd, cmd_args: (
                started[0].command(cmd, cmd_args)
                if started
                else {"ok": False, "error": "the appliance is still starting"}
            ),
        )
        try:
            control.start()
        except StartError as exc:
            log.error("cannot start: %s", exc)
            return EXIT_CONFIG
        log.info("control socket: %s", socket_path)
    try:
        app, _ports = build(
            settings, options, bus, on_status=notifier.status, on_tick=notifier.watchdog, on_ready=notifier.ready
        )
    except Exception as exc:
        from appliance.errors import ApplianceError
        from appliance.host.startup import start_failure

        code, message = start_failure(exc)
        log.error("cannot start: %s", settings.secrets.redact(message))
        if not isinstance(exc, ApplianceError):
            log.debug("start failure", exc_info=True)
        if control is not None:
            control.stop()
        return code
    started.append(app)

    def on_signal(signum: int, _frame: object) -> None:
        app.shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        code = app.run()
    finally:
        notifier.stopping()
        if control is not None:
            control.stop()
        if events_file is not None and events_file is not sys.stdout:
            events_file.close()
    return code

"""`appliance doctor`: checks the hardware, the keys, the cloud and the machine, and says how to fix each.

Each check is a small function returning a :class:`Check`; ``run_doctor`` prints them and exits non-zero
when any failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from appliance.config.settings import Settings
from appliance.wake.verifier import state_dir

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass
class Check:
    name: str
    status: str
    message: str
    fix: str = ""


def check_keys(settings: Settings) -> Check:
    missing = settings.secrets.missing()
    if missing:
        return Check("API keys", FAIL, "; ".join(m.split(":")[0] for m in missing), missing[0].split(": ", 1)[1])
    return Check("API keys", OK, "OPENAI_API_KEY and ELEVENLABS_API_KEY are set")


def check_openai(settings: Settings) -> Check:
    if not settings.secrets.openai_api_key:
        return Check("OpenAI", WARN, "not checked: no key")
    from appliance.llm.client import classify_openai_error, make_openai_client

    client = make_openai_client(settings, max_retries=0, timeout=10.0)
    start = time.monotonic()
    try:
        client.models.list()
    except Exception as exc:
        error = classify_openai_error(exc, stage="doctor")
        fix = (
            "check OPENAI_API_KEY in /etc/appliance/env"
            if error.kind.value in ("auth", "quota")
            else "check the network, DNS and OPENAI_BASE_URL"
        )
        return Check("OpenAI", FAIL, f"{error.kind.value}: {error.message}", fix)
    return Check("OpenAI", OK, f"key accepted, {(time.monotonic() - start) * 1000:.0f} ms")


def check_elevenlabs(settings: Settings) -> Check:
    if not settings.secrets.elevenlabs_api_key:
        return Check("ElevenLabs", WARN, "not checked: no key")
    import httpx

    from appliance.tts.elevenlabs import DEFAULT_BASE_URL

    url = (settings.secrets.elevenlabs_base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/user"
    start = time.monotonic()
    try:
        response = httpx.get(url, headers={"xi-api-key": settings.secrets.elevenlabs_api_key}, timeout=10.0)
    except httpx.HTTPError as exc:
        return Check(
            "ElevenLabs", FAIL, f"unreachable ({type(exc).__name__})", "check the network, DNS and ELEVENLABS_BASE_URL"
        )
    ms = (time.monotonic() - start) * 1000
    if response.status_code in (401, 403):
        return Check(
            "ElevenLabs",
            FAIL,
            f"key refused ({response.status_code})",
            "check ELEVENLABS_API_KEY in /etc/appliance/env",
        )
    if response.status_code >= 400:
        return Check("ElevenLabs", WARN, f"answered {response.status_code} in {ms:.0f} ms")
    return Check("ElevenLabs", OK, f"key accepted, {ms:.0f} ms")


def check_wake_model(settings: Settings) -> Check:
    from appliance.errors import ApplianceError
    from appliance.wake.oww import OpenWakeWordDetector

    start = time.monotonic()
    try:
        detector = OpenWakeWordDetector(settings.wake)
        detector.process(np.zeros(1280, dtype=np.int16))
    except ApplianceError as exc:
        return Check("wake word", FAIL, exc.message, "fix [wake] models in the config")
    return Check("wake word", OK, f"{', '.join(detector.names)} loaded in {(time.monotonic() - start):.1f} s")


def check_wake_verifier(settings: Settings, directory: Path) -> Check:
    """The verifier `appliance enroll` stored, if any: the appliance logs a damaged one once and ignores it,
    so the user's enrollment is gone without a word unless this says so."""
    from appliance.errors import ApplianceError
    from appliance.wake.oww import OpenWakeWordDetector
    from appliance.wake.verifier import VerifierError, load, verifier_path

    path = verifier_path(directory)
    if not path.exists():
        return Check("verifier", OK, f"none enrolled in {directory} (the wake model alone decides)")
    fix = "enroll again (appliance enroll), or remove it (appliance enroll --remove)"
    try:
        verifiers = load(path)
    except VerifierError as exc:
        return Check("verifier", FAIL, f"damaged, so ignored: {exc.message}", fix)
    try:
        inputs = OpenWakeWordDetector(settings.wake).features_per_model
    except ApplianceError as exc:
        return Check("verifier", WARN, f"not checked against the wake models: {exc.message}")
    problems = [
        f"{v.model}: not in wake.models"
        if v.model not in inputs
        else f"{v.model}: trained for a model of another shape"
        for v in verifiers
        if v.model not in inputs or v.coef.shape[0] != inputs[v.model] * 96
    ]
    if problems:
        return Check("verifier", FAIL, f"{path}: ignored for {'; '.join(problems)}", fix)
    return Check("verifier", OK, f"{', '.join(v.model for v in verifiers)} enrolled ({path})")


def check_gpio(settings: Settings) -> Check:
    from appliance.config.types import SettingsError
    from appliance.gpio.factory import setup_pin_factory
    from appliance.gpio.leds import Leds

    try:
        factory = setup_pin_factory(settings.gpio.pin_factory)
    except SettingsError as exc:  # a typo must not pass as "simulated GPIO" on a Pi
        return Check("GPIO", FAIL, str(exc), "fix [gpio] pin_factory (or GPIOZERO_PIN_FACTORY), or leave it empty")
    try:
        leds = Leds(settings.gpio)
        leds.close()
    except Exception as exc:
        return Check(
            "GPIO",
            FAIL,
            f"{type(exc).__name__}: {exc}",
            "another program may hold the pins; check [gpio] pins and that the user is in group gpio",
        )
    status = WARN if factory == "MockFactory" else OK
    return Check(
        "GPIO", status, f"pins claimed with {factory}", "" if status == OK else "not a Raspberry Pi: GPIO is simulated"
    )


def check_camera(settings: Settings) -> Check:
    if not settings.camera.enabled:
        return Check("camera", OK, "disabled in settings")
    from appliance.camera import make_camera
    from appliance.errors import ApplianceError

    try:
        camera = make_camera(settings.camera, None)
        if camera is None:
            return Check(
                "camera",
                WARN,
                "picamera2 is not available",
                "sudo apt install python3-picamera2 (the venv needs --system-site-packages)",
            )
        try:
            size = len(camera.capture_jpeg())
        finally:
            camera.close()
    except ApplianceError as exc:
        return Check("camera", FAIL, exc.message, "check the ribbon cable and `rpicam-hello --list-cameras`")
    return Check("camera", OK, f"captured a {size // 1024} kB frame")


def check_microphone(settings: Settings, seconds: float = 3.0, out: IO[str] = sys.stdout) -> Check:
    from appliance.audio.pyaudio_io import PyAudioMicrophone
    from appliance.errors import ApplianceError

    try:
        mic = PyAudioMicrophone(settings.audio.input_device)
    except ApplianceError as exc:
        return Check("microphone", FAIL, exc.message, "plug in a microphone or set [audio] input_device")
    print(f"  speak now ({seconds:.0f} s)...", file=out, flush=True)
    frames = []
    try:
        for frame in mic.frames():
            frames.append(frame)
            if len(frames) * 0.08 >= seconds:
                break
    finally:
        mic.close()
    audio = np.concatenate(frames).astype(np.float64) / 32768
    peak_db = 20 * np.log10(max(np.abs(audio).max(), 1e-6))
    if peak_db < -40:
        return Check(
            "microphone",
            WARN,
            f"{mic.device_name}: very quiet (peak {peak_db:.0f} dBFS)",
            "raise the capture level in alsamixer, or speak closer",
        )
    if peak_db > -1:
        return Check(
            "microphone",
            WARN,
            f"{mic.device_name}: clipping (peak {peak_db:.0f} dBFS)",
            "lower the capture level in alsamixer",
        )
    return Check("microphone", OK, f"{mic.device_name}: peak {peak_db:.0f} dBFS")


def check_speaker(settings: Settings) -> Check:
    from appliance.audio.earcons import chime
    from appliance.audio.pyaudio_io import PyAudioSpeaker
    from appliance.errors import ApplianceError

    try:
        speaker = PyAudioSpeaker(settings.audio.output_device)
        try:
            pcm, rate = chime()
            speaker.play(pcm, rate)
            speaker.drain()
        finally:
            speaker.close()
    except ApplianceError as exc:
        return Check("speaker", FAIL, exc.message, "plug in a speaker or set [audio] output_device")
    return Check("speaker", OK, f"played a chime on {speaker.device_name} (did you hear it?)")


def check_clock() -> Check:
    if not shutil.which("timedatectl"):
        return Check("clock", WARN, "timedatectl not found: cannot tell whether the clock is synchronized")
    proc = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True)
    if proc.returncode != 0:
        return Check("clock", WARN, "timedatectl did not answer (no systemd?)")
    if proc.stdout.strip() == "yes":
        return Check("clock", OK, "synchronized")
    return Check(
        "clock",
        FAIL,
        "not synchronized: TLS to the cloud fails with a wrong clock",
        "sudo timedatectl set-ntp true, and check the network",
    )


def check_disk(path: str = "/var/lib/appliance", minimum_mb: int = 200) -> Check:
    target = Path(path)
    while not target.exists():
        target = target.parent
    free = shutil.disk_usage(target).free // (1024 * 1024)
    if free < minimum_mb:
        return Check("disk", FAIL, f"{free} MB free on {target}", "free some space (journalctl --vacuum-size=50M)")
    return Check("disk", OK, f"{free} MB free on {target}")


def check_memory(minimum_mb: int = 150) -> Check:
    info = {
        line.split(":")[0]: int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.split()[1:2] and line.split()[1].isdigit()
    }
    available = info.get("MemAvailable", 0) // 1024
    if available < minimum_mb:
        return Check(
            "memory",
            FAIL,
            f"{available} MB available (the appliance needs about 160 MB)",
            "stop other services or use a board with more memory",
        )
    return Check("memory", OK, f"{available} MB available")


def check_mcp(settings: Settings) -> Check:
    """Every MCP server with its state and tool count: connects to each as the appliance would (in the
    background, all at once) and waits until each answered or failed."""
    if not settings.mcp.servers:
        return Check("MCP", OK, "no MCP servers configured")
    from appliance.mcp.manager import McpManager, ServerState

    manager = McpManager(settings.mcp, settings.secrets)
    manager.start()
    try:
        manager.settled(settings.mcp.connect_timeout + 2.0)
        servers = manager.status()
    finally:
        manager.close()
    lines = []
    for s in servers:
        line = f"{s.label} ({s.transport} {s.where}): {s.state.value}, {s.tools} tools"
        line += f", protocol {s.protocol}" if s.protocol else ""
        lines.append(f"{line} ({s.detail})" if s.detail else line)
    down = [s for s in servers if s.state is not ServerState.UP]
    if not down:
        return Check("MCP", OK, "; ".join(lines))
    refused = [s for s in down if s.state is ServerState.UNAUTHORIZED]
    fix = (
        f"set APPLIANCE_SECRET__MCP__{refused[0].label.upper()} in /etc/appliance/env to a valid token "
        "(docs/home-assistant.md)"
        if refused
        else "start the server or fix its url/command in [mcp.servers]; the appliance runs without it and retries"
    )
    return Check("MCP", WARN, "; ".join(lines), fix)


def check_household(settings: Settings) -> Check:
    """The household (issue #30): off, or its secret, and whether this device can join its multicast group."""
    from appliance.config.household import SECRET, secret_problem

    house = settings.household
    if not house.enabled:
        return Check("household", OK, "off (this device answers every wake word it hears)")
    problem = secret_problem(True, settings.secrets.get(*SECRET))
    if problem:
        fix = "set the same APPLIANCE_SECRET__HOUSEHOLD__SECRET (16+ characters) on every device of the group"
        return Check("household", WARN, problem, fix)
    from appliance.household.service import device_name
    from appliance.household.transport import MulticastTransport

    where = f"{house.multicast_group}:{house.port}"
    try:
        MulticastTransport(house.multicast_group, house.port, lambda *_: None, interface=house.interface).close()
    except OSError as exc:
        fix = "check the network and [household] interface; the device answers alone meanwhile"
        return Check("household", FAIL, f"cannot join {where}: {exc.strerror or exc}", fix)
    name = device_name(house)
    return Check("household", OK, f"{name!r} in group {house.group!r} on {where}, window {house.window_ms} ms")


def check_offline(settings: Settings, directory: Path) -> Check:
    """Offline mode (issue #29): the recogniser loads, and how much of its speech the phrase cache holds."""
    if not (settings.local.enabled and settings.local.offline):
        return Check("offline", OK, "off (without the cloud the appliance only says it cannot reach it)")
    from appliance.host.builders import offline_speech
    from appliance.local.matcher import load_templates
    from appliance.local.offline.recogniser import PocketsphinxRecogniser

    start = time.monotonic()
    try:  # the grammar and its decoder; the general model only has to be there (it loads the same way)
        recogniser = PocketsphinxRecogniser(load_templates(settings.local.language), verify=False)
        recogniser.load()
        if settings.local.offline_verify and not recogniser.general_model().is_file():
            raise FileNotFoundError(f"no general language model at {recogniser.general_model()}")
    except Exception as exc:
        return Check("offline", FAIL, f"the recogniser does not load: {exc}", "reinstall the appliance (pocketsphinx)")
    ms = (time.monotonic() - start) * 1000
    wanted = offline_speech(settings)
    cached = sum((directory / "phrases" / f"{key}.wav").is_file() for key in wanted)
    message = f"local commands recognised on the device when the cloud is unreachable (loads in {ms:.0f} ms)"
    if cached < len(wanted):
        fix = "let the appliance run online once: it caches its offline speech in the background"
        return Check("offline", WARN, f"{message}; {cached} of {len(wanted)} offline phrases cached", fix)
    return Check("offline", OK, f"{message}; its {len(wanted)} phrases are cached")


def default_checks(settings: Settings, out: IO[str]) -> list[Callable[[], Check]]:
    return [
        lambda: check_keys(settings),
        lambda: check_openai(settings),
        lambda: check_elevenlabs(settings),
        lambda: check_wake_model(settings),
        lambda: check_wake_verifier(settings, state_dir(None, os.environ)),
        lambda: check_gpio(settings),
        lambda: check_camera(settings),
        lambda: check_microphone(settings, out=out),
        lambda: check_speaker(settings),
        lambda: check_mcp(settings),
        lambda: check_household(settings),
        lambda: check_offline(settings, state_dir(None, os.environ)),
        check_clock,
        lambda: check_disk(),
        lambda: check_memory(),
    ]


def run_doctor(
    settings: Settings, *, out: IO[str] = sys.stdout, checks: list[Callable[[], Check]] | None = None
) -> int:
    failed = False
    for check in checks if checks is not None else default_checks(settings, out):
        try:
            result = check()
        except Exception as exc:  # a check that breaks is itself a finding
            result = Check(getattr(check, "__name__", "check"), FAIL, f"{type(exc).__name__}: {exc}")
        failed = failed or result.status == FAIL
        print(f"{result.status:<4}  {result.name:<11} {settings.secrets.redact(result.message)}", file=out)
        if result.fix and result.status != OK:
            print(f"      fix: {result.fix}", file=out)
    return 1 if failed else 0

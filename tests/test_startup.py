"""Start-up: a missing resource says what to do and exits 2 (no restart loop); a damaged state file does not
stop the start. Exit codes agree with the unit's RestartPreventExitStatus."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.audio.pyaudio_io import PyAudioMicrophone, PyAudioSpeaker
from appliance.errors import MissingResource
from appliance.host.startup import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from standin.headless import ROOT, appliance_env, run
from standin.voice import silence, write_wav

UNIT = ROOT / "deploy" / "appliance.service"


@pytest.fixture(scope="module")
def quiet_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "quiet.wav"
    write_wav(path, silence(0.5))
    return path


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert lines and "Traceback" not in stderr, stderr[-3000:]
    return lines[-1]


def test_damaged_phrase_files_do_not_stop_the_start(tmp_path, quiet_wav):
    phrases = tmp_path / "state" / "phrases"
    phrases.mkdir(parents=True)
    (phrases / "offline.wav").write_bytes(b'{"detail": {"status": "invalid_api_key"}}')  # not RIFF
    (phrases / "error.wav").write_bytes(b"")
    (phrases / ".error.wav.77.wav.tmp").write_bytes(b"RIFF")
    result = run(tmp_path, quiet_wav, "--pace", "0")
    assert result.returncode == EXIT_OK, result.stderr[-3000:]
    assert "ready" in [e["event"] for e in result.events]
    assert result.stderr.count("deleting the damaged phrase file") == 2 and "Traceback" not in result.stderr
    assert list(phrases.iterdir()) == []


@pytest.mark.parametrize(
    "models,fix",
    [
        (
            '["/nowhere/hey_computer.tflite"]',
            "no model file at /nowhere/hey_computer.tflite: fix the path in [wake] "
            "models, or name a built-in model (alexa, ",
        ),
        ('["hey_siri"]', "no built-in model 'hey_siri' (shipped: alexa, "),
    ],
)
def test_a_missing_wake_model_exits_2_with_the_fix(tmp_path, quiet_wav, models, fix):
    result = run(tmp_path, quiet_wav, "--pace", "0", config=f"[wake]\nmodels = {models}\n")
    assert result.returncode == EXIT_CONFIG
    line = last_line(result.stderr)
    assert line.startswith("ERROR appliance: cannot start: wake.models: ") and fix in line, line


@pytest.mark.parametrize("where", ["config", "environment"])
def test_a_typo_in_the_pin_factory_exits_2(tmp_path, quiet_wav, where):
    # gpiozero cannot find it and the appliance used to run on mock pins (a Pi with dark LEDs, a dead button)
    env = {k: v for k, v in appliance_env().items() if not k.startswith("GPIOZERO_")}
    if where == "environment":
        env["GPIOZERO_PIN_FACTORY"] = "lgpi0"
    config = '[gpio]\npin_factory = "lgpi0"\n' if where == "config" else None
    result = run(tmp_path, quiet_wav, "--pace", "0", env=env, config=config)
    assert result.returncode == EXIT_CONFIG, result.stderr[-3000:]
    line = last_line(result.stderr)
    setting = "gpio.pin_factory" if where == "config" else "GPIOZERO_PIN_FACTORY"
    assert f"cannot start: config error: {setting}: unknown pin factory 'lgpi0' (known: lgpio, mock," in line, line
    assert "ready" not in [e["event"] for e in result.events]


def test_a_damaged_wake_model_exits_2(tmp_path, quiet_wav):
    model = tmp_path / "hey_computer.tflite"
    model.write_bytes(b"not a model")
    result = run(tmp_path, quiet_wav, "--pace", "0", config=f'[wake]\nmodels = ["{model}"]\n')
    assert result.returncode == EXIT_CONFIG
    assert "not an openWakeWord model: replace it" in last_line(result.stderr)


def test_a_missing_camera_file_exits_2(tmp_path, quiet_wav):
    result = run(
        tmp_path, quiet_wav, "--pace", "0", "--camera", str(tmp_path / "nope.jpg"), config="[camera]\nenabled = true\n"
    )
    assert result.returncode == EXIT_CONFIG
    assert "nope.jpg: no such image file or folder" in last_line(result.stderr)


def test_a_missing_audio_device_names_the_devices_and_the_fix(pulse, tmp_path):
    for port in (PyAudioMicrophone, PyAudioSpeaker):
        with pytest.raises(MissingResource) as caught:
            port("no-such-sound-card")
        message = caught.value.message
        assert "matches 'no-such-sound-card' (have: " in message and "`appliance doctor`" in message, message
    config = tmp_path / "config.toml"
    config.write_text('[audio]\ninput_device = "no-such-sound-card"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "run", "--config", str(config)],
        cwd=ROOT,
        env=appliance_env({"XDG_RUNTIME_DIR": pulse.runtime_dir}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_CONFIG, proc.stderr[-3000:]
    line = last_line(proc.stderr)
    assert "no input audio device matches 'no-such-sound-card'" in line
    assert "plug in a microphone, or set [audio] input_device" in line


def test_exit_codes_match_the_unit():
    text = UNIT.read_text()
    prevent = re.findall(r"^RestartPreventExitStatus=(.*)$", text, re.M)
    assert len(prevent) == 1
    codes = prevent[0].split()
    assert str(EXIT_CONFIG) in codes and str(EXIT_FAILURE) not in codes and str(EXIT_OK) not in codes
    assert re.search(r"^Restart=always$", text, re.M)


def test_a_native_crash_leaves_every_threads_stack_for_the_journal(tmp_path, quiet_wav):
    """A model runtime or PortAudio that corrupts memory kills the process with a signal (systemd restarts
    it); faulthandler puts the Python stacks of all threads on stderr first, so the journal says where."""
    crash = (
        "import faulthandler, sys\n"
        "import appliance.core.app\n"
        "def run(self):\n"
        "    faulthandler._sigabrt()\n"
        "appliance.core.app.App.run = run\n"
        "from appliance.host.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", crash, "run", "--mic", str(quiet_wav), "--pace", "0", "--state-dir", str(tmp_path)],
        cwd=ROOT,
        env=appliance_env(home=tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -6, proc.stderr[-3000:]  # SIGABRT, as glibc's malloc checks end a process
    assert "Fatal Python error: Aborted" in proc.stderr
    assert re.search(r'File ".*appliance/host/cli\.py", line \d+ in _run', proc.stderr), proc.stderr[-3000:]
    assert re.search(r"^Thread 0x", proc.stderr, re.M), "only the crashing thread's stack was printed"

"""`appliance enroll` where the verifier cannot be stored: a clear line and exit 1, never a traceback, and the
old verifier file (if any) whole. Checked before any take is recorded, so the user does not record for nothing;
a failure at the real write (a full disk) after the takes is reported the same way.

The tests run as root, which permission bits do not stop: the failures are real ones root meets too (a file
where a folder should be, a folder where the file should be, a file size limit, a read-only mount)."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from appliance.host import cli
from appliance.wake import enroll, verifier
from standin import wakeset
from standin.headless import ROOT, appliance_env
from standin.voice import write_wav

pytestmark = pytest.mark.slow  # takes synthesized by piper (cached), and a training run in two tests

TAKES = (("Hey Jarvis!", 0.9), ("Hey, Jarvis.", 1.1), ("Hey Jarvis?", 0.95), ("Hey Jarvis.", 1.05))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The arguments of a complete enrollment from WAVs: ``--wav`` takes and ``--negative-wav``."""
    folder = tmp_path_factory.mktemp("takes")
    takes = [str(write_wav(folder / f"take{i}.wav", wakeset.speech(t, "piper", s))) for i, (t, s) in enumerate(TAKES)]
    other = str(write_wav(folder / "other.wav", wakeset.speech(enroll.NEGATIVE_PROMPT, "piper", 1.0)))
    return ["--wav", *takes, "--negative-wav", other]


def old_verifier(path: Path) -> bytes:
    """A verifier stored by an earlier enrollment (for another model): it must survive a failed one."""
    verifier.save(path, [verifier.LinearVerifier("alexa", np.zeros(3), np.ones(3), np.ones(3), 0.5)])
    return path.read_bytes()


def one_line(err: str) -> str:
    """The one line enroll printed (a child's stderr also has TensorFlow Lite's own INFO line)."""
    lines = [line for line in err.strip().splitlines() if line.startswith("appliance enroll: ")]
    assert len(lines) == 1 and "Traceback" not in err and err.rstrip().endswith(lines[0]), err
    return lines[0]


def test_a_state_folder_that_is_a_file(tmp_path, wavs, capsys):
    state = tmp_path / "state"
    state.write_text("notes")
    assert cli.main(["enroll", "--state-dir", str(state), *wavs]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot store a verifier in {state}: a file is where the folder should be" in line
    assert state.read_text() == "notes"


def test_a_state_folder_under_a_file(tmp_path, wavs, capsys):
    (tmp_path / "file").write_text("notes")
    state = tmp_path / "file" / "state"
    assert cli.main(["enroll", "--state-dir", str(state), *wavs]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot store a verifier in {state}: " in line and "choose another --state-dir" in line
    assert (tmp_path / "file").read_text() == "notes"


def test_a_folder_where_the_verifier_file_should_be(tmp_path, wavs, capsys):
    path = verifier.verifier_path(tmp_path)
    (path / "keep").mkdir(parents=True)
    assert cli.main(["enroll", "--state-dir", str(tmp_path), *wavs]) == 1
    assert f"{path} is a folder, not a verifier file" in one_line(capsys.readouterr().err)
    assert (path / "keep").is_dir() and not list(tmp_path.glob(".wake-verifier-*"))


def test_remove_on_a_folder_is_refused(tmp_path, capsys):
    path = verifier.verifier_path(tmp_path)
    (path / "keep").mkdir(parents=True)
    assert cli.main(["enroll", "--state-dir", str(tmp_path), "--remove"]) == 1
    assert f"{path} is a folder, not a verifier file: nothing removed" in one_line(capsys.readouterr().err)
    assert (path / "keep").is_dir()


def test_remove_when_the_state_folder_is_a_file(tmp_path, capsys):
    (tmp_path / "state").write_text("notes")
    assert cli.main(["enroll", "--state-dir", str(tmp_path / "state"), "--remove"]) == 0
    assert "no verifier stored at" in capsys.readouterr().out
    assert (tmp_path / "state").read_text() == "notes"


def _file_size_limit(limit: int) -> None:
    """In the child: writes past ``limit`` bytes fail with EFBIG (SIGXFSZ ignored, as the shell's ulimit -f
    leaves a process that handles it): a disk that fills up during the write, for root as for anyone."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_write_that_fails_after_every_take_leaves_the_old_file_whole(tmp_path, wavs):
    # the check before the takes passes (an empty file fits), the real write (~40 kB) does not
    state = tmp_path / "state"
    state.mkdir()
    path = verifier.verifier_path(state)
    before = old_verifier(path)
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "enroll", "--state-dir", str(state), *wavs],
        cwd=ROOT,
        env=appliance_env(home=tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _file_size_limit(4096),
    )
    assert result.returncode == 1, result.stderr[-3000:]
    line = one_line(result.stderr)
    assert f"the verifier could not be stored in {path}: the file is over the size limit" in line
    assert "nothing was changed" in line
    assert path.read_bytes() == before and [v.model for v in verifier.load(path)] == ["alexa"]
    assert sorted(p.name for p in state.iterdir()) == [path.name]  # no temporary file left behind


def _private_mount_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True, timeout=10
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _private_mount_works(), reason="needs a private mount namespace (root, CAP_SYS_ADMIN)")
def test_a_read_only_state_folder(tmp_path, wavs):
    # a read-only mount stops root too; it exists only in the child's own mount namespace
    mount = tmp_path / "mount"
    mount.mkdir()
    script = 'mount -t tmpfs tmpfs "$1" && mkdir "$1/state" && mount -o remount,ro "$1" && shift && exec "$@"'
    state = mount / "state"
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(mount)]
        + [sys.executable, "-m", "appliance", "enroll", "--state-dir", str(state), *wavs],
        cwd=ROOT,
        env=appliance_env(home=tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    line = one_line(result.stderr)
    assert f"cannot store a verifier in {state}: the file system is read-only" in line

"""scripts/deploy against a real OpenSSH server on 127.0.0.1, installing into a temporary root.

Service management goes through the APPLIANCE_SERVICE_CMD seam (a script that records what it was asked)
and the health check reads a file the test controls, so no systemd is needed as PID 1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "scripts" / "deploy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd_bin):
        pytest.fail("openssh-server is not installed: scripts/setup installs it")
    if os.geteuid() != 0:
        pytest.fail("the deploy test runs sshd as the current user and logs in as root; run it as root")
    d = tmp_path_factory.mktemp("sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {d / 'host_key'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {d / 'authorized_keys'}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AcceptEnv APPLIANCE_ROOT
StrictModes no
Subsystem sftp internal-sftp
""")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE, text=True)
    host_key = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    # each alias is its own "Pi": its own root directory (sent with SetEnv, as a real fleet has disks)
    (d / "ssh_config").write_text(f"""
Host pi-one
  SetEnv APPLIANCE_ROOT={d / 'roots' / 'pi-one'}
Host pi-two
  SetEnv APPLIANCE_ROOT={d / 'roots' / 'pi-two'}
Host pi-one pi-two
  HostName 127.0.0.1
  Port {port}
  User root
  IdentityFile {d / 'client_key'}
  UserKnownHostsFile {d / 'known_hosts'}
  HostKeyAlias [127.0.0.1]:{port}
""")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"sshd did not start: {proc.stderr.read()}")
    yield d
    proc.terminate()
    proc.wait(5)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(["uv", "build", "--wheel", "--out-dir", str(out)], cwd=ROOT, check=True, capture_output=True)
    return next(out.glob("*.whl"))


@pytest.fixture
def target(tmp_path):
    """A fake Pi root: the service manager records its actions; health.json is what `ctl status` says."""
    root = tmp_path / "pi"
    root.mkdir()
    log = tmp_path / "service.log"
    manager = tmp_path / "service"
    manager.write_text(f"#!/bin/sh\necho \"$1\" >> {log}\n")
    manager.chmod(manager.stat().st_mode | stat.S_IXUSR)
    health = tmp_path / "health.json"
    health.write_text(json.dumps({"ok": True, "state": "idle", "ready": True}))
    return root, manager, log, health


def deploy(sshd, target, *args, timeout=3.0, own_roots=False):
    """Run scripts/deploy; the hosts install into the test's root, or (own_roots) each into its own."""
    root, manager, _log, health = target
    where = [] if own_roots else ["--root", str(root)]
    cmd = [sys.executable, str(DEPLOY), "-F", str(sshd / "ssh_config"), *where,
           "--remote-env", "APPLIANCE_SKIP_SYSTEM=1",
           "--remote-env", f"APPLIANCE_SERVICE_CMD={manager}",
           "--remote-env", "APPLIANCE_PIP_ARGS=--no-deps --no-index",
           "--health-cmd", f"cat {health}", "--timeout", str(timeout), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_install_update_rollback_and_status(sshd, target, wheel):
    root, _manager, log, health = target
    first = deploy(sshd, target, "--wheel", str(wheel), "pi-one", "install")
    assert first.returncode == 0, first.stdout + first.stderr
    current = root / "opt/appliance/current"
    assert current.is_symlink() and (current / "venv/bin/appliance").exists()
    assert "pi-one" in first.stdout and "OK" in first.stdout
    env = root / "etc/appliance/env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "etc/appliance/config.toml").stat().st_mode) == 0o644
    assert (root / "etc/systemd/system/appliance.service").exists()
    assert log.read_text().split() == ["reload", "enable", "restart"]
    first_release = os.readlink(current)

    time.sleep(1.1)  # release names carry the time in seconds
    second = deploy(sshd, target, "--wheel", str(wheel), "pi-one", "update")
    assert second.returncode == 0, second.stdout + second.stderr
    assert os.readlink(current) != first_release
    assert os.readlink(root / "opt/appliance/previous") == first_release

    status = deploy(sshd, target, "pi-one", "status")
    assert status.returncode == 0 and "ready" in status.stdout

    back = deploy(sshd, target, "pi-one", "rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert os.readlink(current) == first_release

    health.write_text(json.dumps({"ok": True, "state": "idle", "ready": False}))
    status = deploy(sshd, target, "pi-one", "status")
    assert status.returncode == 1 and "FAIL" in status.stdout


def test_a_failed_health_check_rolls_back_automatically(sshd, target, wheel):
    root, _manager, log, health = target
    assert deploy(sshd, target, "--wheel", str(wheel), "pi-one", "install").returncode == 0
    good = os.readlink(root / "opt/appliance/current")
    health.write_text("appliance ctl: /run/appliance/control.sock does not exist")
    time.sleep(1.1)
    bad = deploy(sshd, target, "--wheel", str(wheel), "pi-one", "update", timeout=2)
    assert bad.returncode == 1
    assert "rolled back" in bad.stdout
    assert os.readlink(root / "opt/appliance/current") == good
    assert log.read_text().split()[-1] == "restart"


def test_two_hosts_in_parallel_with_a_summary(sshd, target, wheel, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the kitchen and the study\npi-one\npi-two  # second\n")
    result = deploy(sshd, target, "--hosts", str(hosts), "--wheel", str(wheel), "install", own_roots=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pi-one" in result.stdout and "pi-two" in result.stdout
    for host in ("pi-one", "pi-two"):
        assert (sshd / "roots" / host / "opt/appliance/current/venv/bin/appliance").exists()


def test_config_push_validates_first(sshd, target, tmp_path):
    root = target[0]
    bad = tmp_path / "bad.toml"
    bad.write_text("[wake]\nthreshold = 7\n")
    result = deploy(sshd, target, "pi-one", "config", "push", str(bad))
    assert result.returncode == 2 and "wake.threshold" in result.stderr
    assert not (root / "etc/appliance/config.toml").exists()
    good = tmp_path / "good.toml"
    good.write_text("[wake]\nthreshold = 0.6\n")
    result = deploy(sshd, target, "pi-one", "config", "push", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "etc/appliance/config.toml").read_text() == good.read_text()


def test_unknown_host_key_is_refused(sshd, target, tmp_path):
    config = (sshd / "ssh_config").read_text().replace(str(sshd / "known_hosts"), str(tmp_path / "empty"))
    (tmp_path / "ssh_config").write_text(config)
    (tmp_path / "empty").write_text("")
    root, manager, _log, health = target
    result = subprocess.run([sys.executable, str(DEPLOY), "-F", str(tmp_path / "ssh_config"), "--health-cmd",
                             f"cat {health}", "--timeout", "1", "pi-one", "status"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "FAIL" in result.stdout

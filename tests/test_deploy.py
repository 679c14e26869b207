"""The Ansible role and playbooks (deploy/ansible) against three real OpenSSH servers on 127.0.0.1, with the
real `ansible-playbook`.

Each "Pi" is its own sshd (own port, own host key, checked against a known_hosts file) and installs into its
own temporary root (`appliance_root`). systemd is replaced by tests/deploy_fakes/systemctl.py through the
role's `appliance_systemctl` seam: it runs the current release's own code the way systemd runs a
Type=notify unit (restart returns once READY=1 arrives, fails if the process exits first). The tests
install the real appliance wheel with --no-deps and run tests/deploy_fakes/standin.py on the release's
Python (real settings, control socket and sd_notify code, no audio stack). The two slowest (about four
minutes each on a busy 2-core machine) are marked slow: scripts/test runs them once, on 3.11 only."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# one deploy test at a time when the suite runs in several processes (each runs ansible against three sshd and
# stand-in appliances; two at once on 2 cores failed a first install in one of two runs here)
pytestmark = [pytest.mark.timeout(1200), pytest.mark.deploy, pytest.mark.xdist_group("deploy")]

ROOT = Path(__file__).resolve().parent.parent
ANSIBLE = ROOT / "deploy" / "ansible"
FAKES = Path(__file__).resolve().parent / "deploy_fakes"
HOSTS = ("pi-one", "pi-two", "pi-three")
PLAYBOOK_TIMEOUT = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    name: str
    port: int
    proc: subprocess.Popen[str]


@dataclass
class Fleet:
    """Three sshds, a client key and a known_hosts file; inventories are written per test."""

    dir: Path
    key: Path
    known_hosts: Path
    servers: dict[str, Sshd] = field(default_factory=dict)


def start_sshd(d: Path, name: str, authorized: Path) -> Sshd:
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / f"{name}_host_key")], check=True)
    port = free_port()
    config = d / f"{name}_sshd_config"
    (d / f"{name}_home").mkdir()
    config.write_text(f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {d / f"{name}_host_key"}
PidFile {d / f"{name}.pid"}
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 50
# a login without root's shell start-up files (pyenv here): a plain Pi's environment, and fast
SetEnv HOME={d / f"{name}_home"}
MaxStartups 50
Subsystem sftp internal-sftp
""")
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    return Sshd(name, port, proc)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not Path(shutil.which("sshd") or "/usr/sbin/sshd").exists():
        pytest.fail("openssh-server is not installed: scripts/setup installs it")
    if os.geteuid() != 0:
        pytest.fail("the deploy test runs sshd as the current user and logs in as root; run it as root")
    d = tmp_path_factory.mktemp("fleet")
    key = d / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = d / "authorized_keys"
    authorized.write_text((d / "client_key.pub").read_text())
    authorized.chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    fleet = Fleet(d, key, d / "known_hosts")
    try:
        lines = []
        for name in HOSTS:
            server = start_sshd(d, name, authorized)
            fleet.servers[name] = server
            kind, value = (d / f"{name}_host_key.pub").read_text().split()[:2]
            lines.append(f"[127.0.0.1]:{server.port} {kind} {value}\n")
        fleet.known_hosts.write_text("".join(lines))
        for server in fleet.servers.values():
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", server.port)) == 0:
                        break
                if server.proc.poll() is not None:
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"sshd {server.name} did not start")
            if server.proc.poll() is not None:
                pytest.fail(f"sshd {server.name} exited: {server.proc.stderr.read() if server.proc.stderr else ''}")
        yield fleet
    finally:
        for control in (d / "cp").glob("*"):  # ansible's ssh masters (ControlPersist) end with the fleet
            subprocess.run(
                ["ssh", "-o", f"ControlPath={control}", "-O", "exit", "fleet"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        for server in fleet.servers.values():
            server.proc.terminate()
            server.proc.wait(5)


def build_wheel(out: Path, version: str) -> Path:
    """The project's real wheel under another version number (the same code otherwise)."""
    src = out / f"src-{version}"
    shutil.copytree(ROOT / "appliance", src / "appliance", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "README.md", src / "README.md")
    pyproject = (ROOT / "pyproject.toml").read_text()
    (src / "pyproject.toml").write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject, count=1))
    init = src / "appliance" / "__init__.py"
    init.write_text(re.sub(r'__version__ = ".*"', f'__version__ = "{version}"', init.read_text()))
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(out / version)],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next((out / version).glob("appliance-*.whl"))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {v: build_wheel(out, v) for v in ("0.1.0", "0.2.0", "0.3.0")}


@pytest.fixture(scope="module")
def no_requirements(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in needs only the standard library: the release venv gets the wheel alone."""
    path = tmp_path_factory.mktemp("req") / "requirements.txt"
    path.write_text("# nothing pinned: the fast tests install the appliance wheel alone (--no-deps)\n")
    return path


@dataclass
class Run:
    returncode: int
    out: str
    recap: dict[str, dict[str, int]]

    def host_output(self, host: str) -> str:
        return "\n".join(line for line in self.out.splitlines() if host in line)


class Pis:
    """The roots of the three test Pis for one test, an inventory for them, and ansible-playbook."""

    def __init__(self, fleet: Fleet, tmp: Path, no_requirements: Path) -> None:
        self.fleet = fleet
        self.tmp = tmp
        self.no_requirements = no_requirements
        self.roots = {name: tmp / "roots" / name for name in HOSTS}
        for r in self.roots.values():
            r.mkdir(parents=True)
        self.inventory = tmp / "inventory.yml"
        self.write_inventory()

    def write_inventory(self, extra_hosts: dict[str, int] | None = None, hosts: tuple[str, ...] = HOSTS) -> None:
        lines = ["all:", "  children:", "    appliances:", "      hosts:"]
        ports = {name: self.fleet.servers[name].port for name in hosts}
        ports.update(extra_hosts or {})
        for name, port in ports.items():
            root = self.tmp / "roots" / name
            systemctl = f"/usr/bin/python3 {FAKES / 'systemctl.py'} --root {root}"
            lines += [
                f"        {name}:",
                "          ansible_host: 127.0.0.1",
                f"          ansible_port: {port}",
                f"          appliance_root: {root}",
                f"          appliance_systemctl: {systemctl}",
                f"          appliance_journalctl: {systemctl} journal",
            ]
        lines += [
            "      vars:",
            "        ansible_user: root",
            "        ansible_python_interpreter: /usr/bin/python3",
            f"        ansible_ssh_private_key_file: {self.fleet.key}",
            f"        ansible_ssh_common_args: -o UserKnownHostsFile={self.fleet.known_hosts}",
            "        appliance_manage_system: false",
            "        appliance_pip_args: [--no-index]",
            "        appliance_health_retries: 3",
            "        appliance_health_delay: 1",
            "        appliance_lock_timeout: 120",
        ]
        self.inventory.write_text("\n".join(lines) + "\n")

    def playbook(
        self,
        name: str,
        *args: str,
        wheel: Path | None = None,
        requirements: Path | None = None,
        extra: dict[str, object] | None = None,
    ) -> Run:
        # every host in one batch unless a test says otherwise (serial is a play keyword: -e, not inventory)
        variables: dict[str, object] = {"appliance_serial": "100%", **(extra or {})}
        if wheel is not None:
            variables["appliance_wheel"] = str(wheel)
            variables["appliance_requirements"] = str(requirements or self.no_requirements)
        cmd = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(self.inventory),
            str(ANSIBLE / name),
            "-e",
            json.dumps(variables),
            *args,
        ]
        return self._run(cmd, f"ansible-playbook {name} {' '.join(args)}")

    def deploy(self, *args: str) -> Run:
        """scripts/deploy against this inventory, as an operator runs it."""
        return self._run(
            [sys.executable, str(ROOT / "scripts/deploy"), "-i", str(self.inventory), *args],
            f"scripts/deploy {' '.join(args)}",
        )

    def _run(self, cmd: list[str], label: str) -> Run:
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.fleet.dir / "cp"),
            "ANSIBLE_LOCAL_TEMP": str(self.tmp / "ansible-tmp"),
        }
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, env=env, cwd=self.tmp)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"{label} took over {PLAYBOOK_TIMEOUT} s:\n{_text(exc.stdout)[-4000:]}{_text(exc.stderr)[-2000:]}"
            )
        out = proc.stdout + proc.stderr
        print(f"{label}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        return Run(proc.returncode, out, parse_recap(out))

    def current(self, host: str) -> str:
        return os.path.basename(os.readlink(self.roots[host] / "opt/appliance/current"))

    def previous(self, host: str) -> str:
        return os.path.basename(os.readlink(self.roots[host] / "opt/appliance/previous"))

    def releases(self, host: str) -> list[str]:
        return sorted(p.name for p in (self.roots[host] / "opt/appliance/releases").iterdir())

    def status(self, host: str) -> dict[str, object]:
        """What the health check sees: the current release's `appliance ctl status`."""
        root = self.roots[host]
        proc = subprocess.run(
            [
                str(root / "opt/appliance/current/venv/bin/appliance"),
                "ctl",
                "--socket",
                str(root / "run/appliance/control.sock"),
                "status",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return json.loads(proc.stdout) if proc.returncode == 0 else {"ok": False, "error": proc.stderr}

    def service_log(self, host: str) -> list[str]:
        path = self.roots[host] / "fake/systemctl.log"
        return path.read_text().split() if path.exists() else []

    def stop_services(self) -> None:
        for root in self.roots.values():
            subprocess.run(
                ["/usr/bin/python3", str(FAKES / "systemctl.py"), "--root", str(root), "stop"], check=False, timeout=30
            )


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def parse_recap(out: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    if "PLAY RECAP" not in out:
        return recap
    for line in out.split("PLAY RECAP", 1)[1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return recap


def version_of(release: str) -> str:
    return release.split("-")[0]


@pytest.fixture
def pis(fleet: Fleet, no_requirements: Path) -> Iterator[Pis]:
    # a Pi's control socket is deep in its root, and a Unix socket's path holds 107 bytes: pytest's tmp_path
    # (deeper still when the suite runs in several processes) leaves too few
    tmp = Path(tempfile.mkdtemp(prefix="pis-"))
    p = Pis(fleet, tmp, no_requirements)
    try:
        yield p
    finally:
        p.stop_services()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_fresh_install_a_second_run_changes_nothing_then_an_update(pis: Pis, wheels: dict[str, Path]) -> None:
    first = pis.playbook("site.yml", wheel=wheels["0.1.0"])
    assert first.returncode == 0, first.out[-4000:]
    for host in HOSTS:
        assert first.recap[host]["failed"] == 0 and first.recap[host]["changed"] > 0
        root = pis.roots[host]
        assert version_of(pis.current(host)) == "0.1.0"
        assert (root / "opt/appliance/current/venv/bin/appliance").exists()
        assert (root / "opt/appliance/current/venv/pyvenv.cfg").read_text().count("include-system-site-packages = true")
        assert stat.S_IMODE((root / "etc/appliance/env").stat().st_mode) == 0o600
        assert stat.S_IMODE((root / "etc/appliance/config.toml").stat().st_mode) == 0o644
        assert "# threshold =" in (root / "etc/appliance/config.toml").read_text()
        unit = root / "etc/systemd/system/appliance.service"
        assert unit.read_text() == (ROOT / "deploy/appliance.service").read_text()
        assert pis.service_log(host) == ["daemon-reload", "enable", "restart"]
        assert pis.status(host)["version"] == "0.1.0" and pis.status(host)["ready"] is True
    # the operator's edits survive every later run
    (pis.roots["pi-one"] / "etc/appliance/env").write_text("OPENAI_API_KEY=sk-test\n")

    again = pis.playbook("site.yml", wheel=wheels["0.1.0"])
    assert again.returncode == 0, again.out[-4000:]
    assert {host: again.recap[host]["changed"] for host in HOSTS} == {host: 0 for host in HOSTS}, again.out[-4000:]
    assert pis.service_log("pi-one") == ["daemon-reload", "enable", "restart", "enable"]  # no restart
    assert (pis.roots["pi-one"] / "etc/appliance/env").read_text() == "OPENAI_API_KEY=sk-test\n"

    first_release = pis.current("pi-one")
    update = pis.playbook("site.yml", wheel=wheels["0.2.0"])
    assert update.returncode == 0, update.out[-4000:]
    for host in HOSTS:
        assert version_of(pis.current(host)) == "0.2.0"
        assert pis.previous(host) == first_release
        assert pis.status(host)["version"] == "0.2.0"
    assert (pis.roots["pi-one"] / "etc/appliance/env").read_text() == "OPENAI_API_KEY=sk-test\n"

    # status and logs, as an operator asks for them
    ops = pis.playbook("ops.yml", "--tags", "status,logs")
    assert ops.returncode == 0, ops.out[-4000:]
    assert "version 0.2.0, state idle, ready True" in ops.out
    assert "appliance 0.2.0: ready" in ops.out  # from the journal

    # a fleet rollback: every host back on 0.1.0, checked by the same health check
    back = pis.playbook("ops.yml", "--tags", "rollback")
    assert back.returncode == 0, back.out[-4000:]
    assert "to " + first_release + ", which is ready" in back.out
    for host in HOSTS:
        assert pis.current(host) == first_release and pis.status(host)["version"] == "0.1.0"


def test_a_release_that_crashes_on_one_host_is_rolled_back_there_others_update_unreachable_reported(
    pis: Pis, wheels: dict[str, Path]
) -> None:
    assert pis.playbook("site.yml", wheel=wheels["0.1.0"]).returncode == 0
    good = pis.current("pi-two")
    # on pi-two 0.2.0 exits at start (the restart fails, as with Type=notify); on pi-three both releases do,
    # so its rollback cannot come back healthy; pi-four does not answer at all
    (pis.roots["pi-two"] / "fake/crash").write_text("0.2.0\n")
    (pis.roots["pi-three"] / "fake/crash").write_text("0.2.0 0.1.0\n")
    dead = free_port()
    pis.write_inventory(extra_hosts={"pi-four": dead})
    # through scripts/deploy: Ansible's output, then a line per host, and exit 1 since hosts failed
    update = pis.deploy(
        "--serial",
        "100%",
        "--max-fail",
        "75",
        "--wheel",
        str(wheels["0.2.0"]),
        "--requirements",
        str(pis.no_requirements),
        "update",
    )
    assert update.returncode == 1, update.out[-4000:]
    summary = update.out.rsplit("\nupdate:\n", 1)[1].splitlines()
    lines = {line.split()[0]: line for line in summary if line.strip()}
    assert lines["pi-one"].split()[1:] == ["OK", "changed"]
    assert lines["pi-two"].split()[1] == "FAILED" and f"rolled back to {good}, which is ready" in lines["pi-two"]
    assert lines["pi-three"].split()[1] == "FAILED" and "ROLLBACK FAILED" in lines["pi-three"]
    assert lines["pi-four"].split()[1] == "UNREACHABLE"
    assert version_of(pis.current("pi-one")) == "0.2.0" and pis.status("pi-one")["version"] == "0.2.0"
    assert update.recap["pi-one"]["failed"] == 0
    # pi-two: rolled back, and the rollback checked
    assert pis.current("pi-two") == good and pis.status("pi-two")["ready"] is True
    assert update.recap["pi-two"]["failed"] == 1
    assert f"rolled back to {good}, which is ready" in update.host_output("pi-two")
    # pi-three: the links went back, and the report says the rollback is not healthy
    assert pis.current("pi-three") == good
    assert "ROLLBACK FAILED" in update.host_output("pi-three")
    assert pis.status("pi-three")["ok"] is False
    # pi-four: reported unreachable, the others went on
    assert update.recap["pi-four"]["unreachable"] == 1
    assert "UNREACHABLE" in update.host_output("pi-four")
    # previous is what it was before the update (none after a fresh install), never the failed release
    assert not (pis.roots["pi-two"] / "opt/appliance/previous").is_symlink()


def test_a_bad_release_stops_at_the_first_batch(pis: Pis, wheels: dict[str, Path]) -> None:
    assert pis.playbook("site.yml", wheel=wheels["0.1.0"]).returncode == 0
    good = {host: pis.current(host) for host in HOSTS}
    for host in HOSTS:
        (pis.roots[host] / "fake/crash").write_text("0.2.0\n")
    # one host per batch (the canary first), no failure allowed: the first batch fails and the rest are spared
    run = pis.playbook("site.yml", wheel=wheels["0.2.0"], extra={"appliance_serial": 1})
    assert run.returncode != 0
    assert run.recap["pi-one"]["failed"] == 1
    assert {host: pis.current(host) for host in HOSTS} == good
    for host in ("pi-two", "pi-three"):
        assert not any(version_of(r) == "0.2.0" for r in pis.releases(host)), host
        assert pis.service_log(host) == ["daemon-reload", "enable", "restart"]


def test_config_push_is_checked_applied_and_restored_when_unhealthy(pis: Pis, wheels: dict[str, Path]) -> None:
    pis.write_inventory(hosts=("pi-one",))
    assert pis.playbook("site.yml", wheel=wheels["0.1.0"]).returncode == 0
    config = pis.roots["pi-one"] / "etc/appliance/config.toml"
    original = config.read_text()

    invalid = pis.tmp / "invalid.toml"
    invalid.write_text("[wake]\nthreshold = 7\n")
    run = pis.playbook("ops.yml", "--tags", "config", extra={"appliance_config_file": str(invalid)})
    assert run.returncode != 0 and "wake.threshold" in run.out
    assert config.read_text() == original
    assert pis.service_log("pi-one").count("restart") == 1

    # valid, but names a microphone this Pi does not have: the appliance exits at start
    breaks = pis.tmp / "breaks.toml"
    breaks.write_text('[audio]\ninput_device = "USB PnP Sound Device"\n')
    run = pis.playbook("ops.yml", "--tags", "config", extra={"appliance_config_file": str(breaks)})
    assert run.returncode != 0
    assert "old config restored, the appliance is ready" in run.out
    assert config.read_text() == original
    assert pis.status("pi-one")["ready"] is True

    good = pis.tmp / "good.toml"
    good.write_text("[wake]\nthreshold = 0.6\n")
    run = pis.deploy("config", "push", str(good))
    assert run.returncode == 0, run.out[-4000:]
    assert run.out.rstrip().splitlines()[-1].split() == ["pi-one", "OK", "changed"]
    assert config.read_text() == good.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    assert (config.parent / "config.toml.previous").read_text() == original
    assert pis.status("pi-one")["ready"] is True


@pytest.mark.slow
def test_concurrent_deploys_to_one_host_take_turns_and_pruning_keeps_n(pis: Pis, wheels: dict[str, Path]) -> None:
    pis.write_inventory(hosts=("pi-one",))
    assert pis.playbook("site.yml", wheel=wheels["0.1.0"]).returncode == 0
    first = pis.current("pi-one")
    lock = pis.roots["pi-one"] / "run/lock/appliance-deploy.lock"

    # someone else holds the lock: a deploy that may not wait fails, saying so, and changes nothing
    holder = subprocess.Popen(["flock", str(lock), "sleep", "120"])
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0:
            assert time.monotonic() < deadline, "the test could not take the lock"
            time.sleep(0.05)
        refused = pis.playbook("site.yml", wheel=wheels["0.2.0"], extra={"appliance_lock_timeout": 1})
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode != 0 and "another deploy holds" in refused.out
    assert pis.current("pi-one") == first and pis.releases("pi-one") == [first]

    # a partial release left by a deploy that died mid-build
    partial = pis.roots["pi-one"] / "opt/appliance/releases/0.0.9-deadbeef0000"
    (partial / "venv").mkdir(parents=True)

    # two deploys at once: the second waits for the first; both succeed, one after the other
    results: dict[str, Run] = {}

    def deploy(version: str) -> None:
        # the second waits for the whole of the first (over two minutes on a busy 2-core machine)
        results[version] = pis.playbook(
            "site.yml", wheel=wheels[version], extra={"appliance_keep_releases": 2, "appliance_lock_timeout": 360}
        )

    threads = [threading.Thread(target=deploy, args=(v,)) for v in ("0.2.0", "0.3.0")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PLAYBOOK_TIMEOUT + 10)
    assert all(r.returncode == 0 for r in results.values()), [r.out[-3000:] for r in results.values()]
    current, previous = pis.current("pi-one"), pis.previous("pi-one")
    assert {version_of(current), version_of(previous)} == {"0.2.0", "0.3.0"}
    assert pis.status("pi-one")["version"] == version_of(current)
    # kept: the newest two; gone: 0.1.0 and the partial one
    assert pis.releases("pi-one") == sorted([current, previous])
    assert not (pis.roots["pi-one"] / "run/lock/appliance-deploy.lock.owner").exists()


def test_status_prints_one_row_per_device_from_its_metrics_file(pis: Pis) -> None:
    """`scripts/deploy status` reads each Pi's metrics file over ssh (issue #30): two Pis wrote theirs, the third
    has none (no appliance installed: it is reported down, with the reason)."""
    from appliance.events import Turn, TurnOutcome
    from appliance.metrics.collector import ApplianceMetrics

    for host, answered in (("pi-one", 3), ("pi-two", 7)):
        metrics = ApplianceMetrics(version=f"0.{answered}.0")
        for _ in range(answered):
            metrics(Turn(1, TurnOutcome.ANSWERED, {"end_of_speech_to_first_audio_ms": 900.0}))
        path = pis.roots[host] / "var/lib/prometheus/node-exporter/appliance.prom"
        path.parent.mkdir(parents=True)
        path.write_text(metrics.exposition())
    run = pis.deploy("status")
    assert run.returncode == 1, run.out[-3000:]  # nothing is ready: no release is installed
    table = run.out.split("\nstatus:\n", 1)[1].split("\n\n", 1)[1].splitlines()
    assert table[0].split()[:3] == ["DEVICE", "VERSION", "STATE"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == set(HOSTS)
    assert rows["pi-one"].split()[1:5] == ["0.3.0", "down", rows["pi-one"].split()[3], "3"]
    assert rows["pi-two"].split()[1] == "0.7.0" and rows["pi-two"].split()[4] == "7"
    assert "0.88 s / 0.99 s" in rows["pi-one"]  # the first-audio quantiles from the histogram (as PromQL)
    assert rows["pi-three"].split()[1:3] == ["?", "down"] and rows["pi-three"].rstrip().endswith(
        "Error executing command."
    )

"""Three headless appliances of one household, each in its own network namespace joined by a bridge (issue #30).

Run inside a new user, network and mount namespace (``unshare -rnm --propagation private python -m
standin.netns_household OUT_DIR``): it makes the namespaces ``d0``..``d2`` (10.77.0.1-3) on a bridge whose own
address (10.77.0.254) forwards to the stand-in cloud on this namespace's loopback, starts the three devices
with one recording at three levels from the same wall-clock moment, and writes what each did to
``OUT_DIR/result.json``. The test (tests/test_household_e2e.py) reads it. netem is not used: the kernel here
has no ``sch_netem``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from standin.cloud import FakeCloud
from standin.headless import ROOT, appliance_env, read_events
from standin.responses import ResponsesServer, Wire
from standin.speech import pcm, transcript, tts
from standin.voice import concat, noise, silence, synth, write_wav

BRIDGE = "10.77.0.254"
NAMES = ("d0", "d1", "d2")
GAINS = (-6.0, -12.0, -15.0)  # d0 the loudest
SECRET = "a household secret for the namespaces"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def network() -> None:
    sh("mount", "-t", "tmpfs", "none", "/run")
    os.makedirs("/run/netns", exist_ok=True)
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
    sh("ip", "addr", "add", f"{BRIDGE}/24", "dev", "br0")
    sh("ip", "link", "set", "br0", "up")
    for n, name in enumerate(NAMES):
        sh("ip", "netns", "add", name)
        sh("ip", "link", "add", f"veth{n}", "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "link", "set", f"veth{n}", "master", "br0", "up")
        sh("ip", "-n", name, "addr", "add", f"10.77.0.{n + 1}/24", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", name, "route", "add", "default", "via", BRIDGE)


def forward(listen_port: int, target_port: int) -> None:
    """The bridge's address on ``listen_port`` → the cloud on this namespace's loopback."""
    server = socket.create_server((BRIDGE, listen_port))

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept() -> None:
        while True:
            client, _ = server.accept()
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def main(out: Path) -> None:
    network()
    speech = concat(synth("Hey Jarvis!"), silence(0.4), synth("What is the tallest mountain on Earth?"))
    with FakeCloud() as cloud:
        server, wire = ResponsesServer(cloud), Wire()
        cloud.default("transcriptions", transcript("What is the tallest mountain on Earth?"))
        cloud.default("tts", lambda r: tts(pcm(0.4)))
        server.then(wire.text("Mount Everest."))
        port = int(cloud.url.rsplit(":", 1)[1])
        forward(port, port)
        env = {k: v.replace("127.0.0.1", BRIDGE) for k, v in cloud.env().items()}
        env["APPLIANCE_SECRET__HOUSEHOLD__SECRET"] = SECRET
        start_at = time.time() + 25.0
        procs = {}
        for n, name in enumerate(NAMES):
            home = out / name
            home.mkdir(parents=True)
            voice = speech.astype(np.float64) * 10 ** (GAINS[n] / 20)
            audio = noise(3.0 + len(speech) / 16000 + 4.0, -55.0, seed=n).astype(np.float64)
            audio[48000 : 48000 + len(voice)] += voice
            mic = write_wav(home / "mic.wav", np.clip(audio, -32768, 32767).astype(np.int16))
            config = home / "config.toml"
            config.write_text(
                f'[household]\nenabled = true\ndevice = "{name}"\ninterface = "10.77.0.{n + 1}"\n'
                '[endpoint]\nmode = "silence"\n'
            )
            cmd = ["ip", "netns", "exec", name, sys.executable, "-m", "appliance", "run", "--config", str(config)]
            cmd += ["--mic", str(mic), "--speaker", str(home / "speaker.wav"), "--events", str(home / "events.jsonl")]
            cmd += ["--state-dir", str(home / "state"), "--mic-start-at", f"{start_at:.3f}"]
            procs[name] = subprocess.Popen(
                cmd, cwd=ROOT, env=appliance_env(env, home=home), stderr=subprocess.PIPE, text=True
            )
        result: dict[str, object] = {}
        for name, proc in procs.items():
            _out, err = proc.communicate(timeout=150)
            result[name] = {"returncode": proc.returncode, "events": read_events(out / name / "events.jsonl")}
            (out / name / "stderr.txt").write_text(err)
        result["transcriptions"] = len(cloud.of("transcriptions"))
        result["responses"] = len(server.requests)
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""The arguments of ``appliance enroll``, apart from the command so that building the parser imports nothing
heavy (every `appliance` invocation builds it)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="settings file")
    p.add_argument(
        "--state-dir", help="where the verifier is stored (default $STATE_DIRECTORY, else /var/lib/appliance)"
    )
    p.add_argument("--wav", nargs="+", metavar="TAKE.wav", help="takes of the wake word instead of the microphone")
    p.add_argument("--negative-wav", nargs="+", metavar="OTHER.wav", help="other speech of the same voice")
    p.add_argument("--takes", type=int, default=4, help="how many takes to record (3-5, default 4)")
    p.add_argument("--model", help="wake model to verify (default: the first of wake.models)")
    p.add_argument("--remove", action="store_true", help="delete the stored verifier")

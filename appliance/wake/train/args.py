"""The arguments of ``appliance wake train``, apart from the command so that building the parser imports nothing
heavy (every `appliance` invocation builds it)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="wake_command", required=True)
    train = sub.add_parser(
        "train",
        help="train a wake model for a phrase, offline (about 30-60 min on 2 cores; run it again to resume)",
    )
    train.add_argument("phrase", help='the wake phrase, two to six English words, e.g. "hey kitchen"')
    train.add_argument("--out", required=True, help="folder for NAME.npz and NAME.json")
    train.add_argument("--name", help="model name (default: the phrase, e.g. hey_kitchen)")
    train.add_argument("--work", help="work folder, kept for resuming (default OUT/.NAME.work)")
    train.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    train.add_argument("--scale", type=float, default=1.0, help="multiply the amount of data (default 1)")
    train.add_argument(
        "--engines",
        help="synthesizers to train with, comma separated (default piper,espeak,festival; flite is held out)",
    )
    train.add_argument("--small", action="store_true", help="a quick small run to try the machinery (a weak model)")

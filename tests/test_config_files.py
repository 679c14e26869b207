"""A bad settings file is one line naming the problem and exit 2 (systemd does not restart after 2)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config.settings import SettingsError, load
from appliance.host.cli import main

GOOD = '[assistant]\nmodel = "gpt-test"\n'


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load(path, env={}).assistant.model == "gpt-test"


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda p: p.mkdir(), "is a directory, not a config file"),
        (lambda p: p.write_bytes(b'[assistant]\nmodel = "caf\xe9"\n'), "not UTF-8 text (byte 0xe9 on line 2)"),
        (lambda p: p.write_bytes(GOOD.encode("utf-16")), "UTF-16"),
        (lambda p: p.write_text("model = \n"), "not valid TOML"),
        (lambda p: None, "no such config file"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(tmp_path, capsys, make, expected):
    path = tmp_path / "config.toml"
    make(path)
    with pytest.raises(SettingsError, match=re.escape(expected)):
        load(path, env={})
    for argv in (["config", "check", str(path)], ["run", "--config", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"appliance: config error: {path}: ") and expected in err[0], err


def test_an_unreadable_file_names_the_fix(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    path.chmod(0o000)
    command = [
        sys.executable,
        "-c",
        "import sys\nfrom appliance.host.cli import main\nsys.exit(main(['config', 'check', sys.argv[1]]))",
        str(path),
    ]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is missing")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"appliance: config error: {path}: cannot read the config file (permission "
        "denied: the service user needs read access, e.g. `chgrp appliance` and "
        "`chmod 640`)"
    )

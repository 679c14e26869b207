"""The offline phrase cache survives damaged files, crashes mid-write and a full disk."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.wavfile import write_wav
from appliance.speech.phrases import PHRASES, TEMP_SUFFIX, PhraseCache

RATE = 24_000


def speech(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, 3000, int(RATE * seconds))).clip(-32768, 32767).astype(np.int16)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a wav file at all",
        b'{"detail": {"status": "quota_exceeded"}}',
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"RIFF" + bytes(40),
    ],
)
def test_a_damaged_phrase_file_is_deleted_and_made_again(tmp_path, content, caplog):
    write_wav(tmp_path / "error.wav", speech(), RATE)
    (tmp_path / "offline.wav").write_bytes(content)
    cache = PhraseCache(tmp_path)  # never fatal
    assert cache.missing() == [k for k in PHRASES if k != "error"]
    assert not (tmp_path / "offline.wav").exists()
    assert "deleting the damaged phrase file" in caplog.text
    assert cache.get("error") is not None and cache.get("error")[1] == RATE
    _, rate = cache.audio("offline")  # the earcon stands in meanwhile
    assert rate > 0
    assert cache.store("offline", speech(seed=3), RATE)
    assert PhraseCache(tmp_path).missing() == [k for k in PHRASES if k not in ("error", "offline")]


def test_implausible_audio_is_neither_kept_nor_cached(tmp_path):
    write_wav(tmp_path / "offline.wav", np.zeros(RATE, np.int16), RATE)  # silence
    write_wav(tmp_path / "error.wav", speech(0.01), RATE)  # 10 ms
    (tmp_path / "lost_connection.wav").mkdir()
    cache = PhraseCache(tmp_path)
    assert cache.missing() == list(PHRASES)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert not cache.store("offline", np.zeros(RATE, np.int16), RATE)
    assert not cache.store("offline", speech(), 400)
    assert cache.missing() == list(PHRASES) and list(tmp_path.iterdir()) == []


def test_stale_temp_files_are_removed_at_start_and_phrases_reload_exactly(tmp_path):
    (tmp_path / f".offline.wav.1234{TEMP_SUFFIX}").write_bytes(b"RIFF half written")
    (tmp_path / f".error.wav.99{TEMP_SUFFIX}").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not ours to delete")
    pcm = speech(seed=5)
    PhraseCache(tmp_path).store("error", pcm, RATE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error.wav", "notes.txt"]
    reloaded = PhraseCache(tmp_path)
    got, rate = reloaded.audio("error")
    assert rate == RATE and np.array_equal(got, pcm)


def test_the_write_is_synced_before_and_after_the_rename(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real_fsync(fd)

    def replace(src: object, dst: object) -> None:
        synced.append("rename")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    assert PhraseCache(tmp_path).store("offline", speech(), RATE)
    assert synced == ["file", "rename", "dir"]


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real full disk: a tmpfs of a few kilobytes (needs root, as in CI's container)."""
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_leaves_no_temp_file_and_keeps_the_old_phrase(tmp_path, caplog):
    with small_tmpfs(tmp_path / "state", "64k") as directory:
        old = speech(0.5, seed=1)  # 24 kB
        cache = PhraseCache(directory)
        assert cache.store("offline", old, RATE)
        long = speech(2.0, seed=2)  # 96 kB: cannot fit
        assert cache.store("offline", long, RATE)  # kept in memory for this run
        assert "could not cache" in caplog.text and "No space left" in caplog.text
        assert sorted(p.name for p in directory.iterdir()) == ["offline.wav"]
        got, _ = PhraseCache(directory).audio("offline")
        assert np.array_equal(got, old)
        assert cache.store("error", long, RATE)
        assert sorted(p.name for p in directory.iterdir()) == ["offline.wav"]


def test_extra_phrases_are_kept_and_reloaded_like_the_fixed_ones(tmp_path):
    """The local commands' replies join the cache: missing until stored, then on disk and found again."""
    extra = {"local_no_timers": "No timers are running."}
    cache = PhraseCache(tmp_path, extra)
    assert cache.missing() == [*PHRASES, "local_no_timers"] and not cache.has("local_no_timers")
    assert cache.texts["local_no_timers"] == "No timers are running."
    assert cache.key_for("no timers are running.") == "local_no_timers"
    assert cache.store("local_no_timers", speech(seed=5), RATE)
    again = PhraseCache(tmp_path, extra)
    assert again.has("local_no_timers") and "local_no_timers" not in again.missing()
    assert not PhraseCache(tmp_path).has("local_no_timers")  # without the extra table it is not read

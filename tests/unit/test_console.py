"""The console's writers when the reader went away (``orchestrator up --dry-run | head -1``):
each function on a stream whose pipe is closed, or which fails as a closed one does.  (The
program itself writing into a closed pipe: ``e2e/test_closed_pipe.py``.)"""

from __future__ import annotations

import errno
import io
import os
import sys

import pytest
from support.processes import read_line

from orchestrator import console


def closed_pipe_file() -> io.TextIOWrapper:
    """A text file writing into a pipe whose reading end is already closed."""
    r, w = os.pipe()
    os.close(r)
    return open(w, "w", encoding="utf-8")


def is_devnull(fd: int) -> bool:
    return os.path.samestat(os.fstat(fd), os.stat(os.devnull))


@pytest.fixture(params=[False, True], ids=["terminal", "github-actions"])
def actions(request, monkeypatch) -> bool:
    """Both output styles: plain, and GitHub Actions (groups and annotations)."""
    if request.param:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    else:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    console._annotations.cache_clear()
    yield request.param
    console._annotations.cache_clear()


def test_writers_on_a_closed_stdout_do_not_raise(monkeypatch, actions):
    out = closed_pipe_file()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        with pytest.raises(BrokenPipeError):  # the pipe is really closed
            os.write(out.fileno(), b"x")
        console.say("first line")
        assert is_devnull(out.fileno())  # from now on stdout goes nowhere, without errors
        console.say("more")
        console.write("select 1;\n" * 5000)
        with console.group("a group"):
            console.say("inside")
        console.annotate("warning", "an annotation", file="db/migrations/1_x.sql", line=1, title="rule")
        print("a print elsewhere", file=out, flush=True)
    finally:
        out.close()  # the final flush succeeds too


def test_a_large_write_into_a_closed_stdout_does_not_raise(monkeypatch):
    out = closed_pipe_file()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        console.write("select 1;\n" * 100_000)  # more than any buffer: fails inside write(), not flush()
        assert is_devnull(out.fileno())
    finally:
        out.close()


def test_writers_on_a_closed_stderr_do_not_raise(monkeypatch, actions):
    err = closed_pipe_file()
    monkeypatch.setattr(sys, "stderr", err)
    try:
        console.warn("careful")  # in GitHub Actions: a ::warning:: annotation on stderr
        assert is_devnull(err.fileno())
        console.note("a note")
        console.fail("it failed")
        console.warn("careful again")
    finally:
        err.close()


def test_group_survives_its_reader_going_away_inside_it(monkeypatch, actions):
    """The title goes out, then the reader leaves; the block's end is written nowhere."""
    r, w = os.pipe()
    out = open(w, "w", encoding="utf-8")  # noqa: SIM115
    monkeypatch.setattr(sys, "stdout", out)
    try:
        with console.group("title"):
            assert read_line(r).strip().endswith(b"title")
            os.close(r)
            console.say("inside")
        assert is_devnull(out.fileno())
    finally:
        out.close()


class Failing(io.StringIO):
    """A stream without a descriptor whose writes fail with ``error``."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


def test_a_closed_stream_without_a_descriptor_is_silenced_too(monkeypatch):
    monkeypatch.setattr(sys, "stdout", Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    monkeypatch.setattr(sys, "stderr", Failing(OSError(errno.EPIPE, "Broken pipe")))
    console.say("nobody reads this")
    console.write("nor this")
    console.fail("nor this")


def test_other_write_errors_still_raise(monkeypatch):
    """Only a reader that went away is silenced; a full disk is a real error."""
    monkeypatch.setattr(sys, "stdout", Failing(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        console.say("x")
    assert console.reader_gone(BrokenPipeError()) and console.reader_gone(OSError(errno.EPIPE, "x"))
    assert not console.reader_gone(OSError(errno.EIO, "x")) and not console.reader_gone(ValueError())


def test_console_writes_normally_to_an_open_pipe(monkeypatch):
    r, w = os.pipe()
    out = open(w, "w", encoding="utf-8")  # noqa: SIM115
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    console.say("hello")
    console.write("select 1;\n")
    out.close()
    with open(r, encoding="utf-8") as reader:
        assert reader.read() == "hello\nselect 1;\n"

"""The repository's own hygiene, checked with git itself."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support import REPO


@pytest.mark.skipif(not (REPO / ".git").exists() or not shutil.which("git"), reason="not a git checkout")
def test_gitignore_lists_no_tracked_file():
    ignored = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    assert ignored == ""

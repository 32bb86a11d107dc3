"""A signal to a fleet's parent reaches every database's run: each rolls itself back.

A real parent process, as a terminal or a cancelled GitHub Actions step signals it; its
children run in their own session, so the signal reaches them only through the parent,
once.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from support.postgres import in_pg_sleep, tables, versions
from support.processes import wait_for

SLEEP = 47


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_parent_rolls_every_database_back(fleet, background, signum):
    fleet.configure(parallel=3)
    fleet.project.add("0001", "create table one (id int);", "drop table one;", name="one")
    fleet.project.add("0002", f"create table two (id int);\nselect pg_sleep({SLEEP});", "drop table two;",
                      name="two")
    proc = background.start(fleet.project, "-e", "staging", "up", env=fleet.env())
    for url in fleet.urls.values():
        wait_for(lambda url=url: in_pg_sleep(url, SLEEP), timeout=60, what=f"{url.database} in pg_sleep")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    for url in fleet.urls.values():
        assert versions(url) == [] and not {"one", "two"} & set(tables(url)), url.database
    doc = json.loads(Path(re.search(r"Fleet run log: (\S+\.json)", out)[1]).read_text(encoding="utf-8"))
    assert doc["signals"] == [signal.Signals(signum).name]
    assert {r["database"]: (r["outcome"], r["exit_code"]) for r in doc["databases"]} == {
        name: ("rolled_back", 1) for name in fleet.urls}
    assert "Traceback" not in err
    assert len(re.findall(rf"interrupted by {signal.Signals(signum).name}", err)) == 3  # one per child

"""What a run leaves: its run log; and the pipeline run in-process with a recording output."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import runlog


def run_log(project: Any, result: Any) -> dict:
    """The run log a CLI run names on stdout (``Run log: PATH``)."""
    match = re.search(r"Run log: (\S+\.json)", result.out)
    assert match, result.text
    return json.loads(Path(match[1]).read_text())


def step(doc: dict, name: str) -> dict:
    """One step of a run log."""
    return next(s for s in doc["steps"] if s["name"] == name)


def last_log(project: Any) -> dict:
    """The newest run log in the project's ``.orchestrator/runs``."""
    paths = sorted((project.root / ".orchestrator" / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return runlog.read(paths[-1])


@dataclass
class Recorder:
    """Stands in for :mod:`orchestrator.console` as the pipeline's output: keeps every line."""

    lines: list[str] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        self.lines.append(text)

    write = note = fail = say

    def warn(self, text: str) -> None:
        self.lines.append(f"warning: {text}")

    def group(self, title: str) -> _Null:
        self.lines.append(f"==> {title}")
        return _Null()

    def annotate(self, *args: object, **kwargs: object) -> None:
        pass

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def deploy(project: Any, *, probe: Any = None, action: str = "up", steps: int = 1,
           environment: str = "staging", run_log_path: Path | None = None) -> tuple[int, Recorder]:
    """``pipeline.deploy`` in-process on ``project``'s database, its output recorded; the exit
    code the CLI would end with.  ``probe`` replaces the health check (None: the configured one)."""
    from orchestrator import config, pipeline
    from orchestrator.errors import OrchestratorError
    from orchestrator.pipeline import Parts, Request

    out = Recorder()
    cfg = config.load(environment=environment, root=project.root, url=project.url.dbmate_url())
    parts = Parts.of(cfg, out=out)
    if probe is not None:
        parts = Parts(parts.store, probe, out)
    try:
        code = pipeline.deploy(cfg, Request(action, steps=steps, run_log=run_log_path), parts)
    except OrchestratorError as exc:
        code = exc.exit_code
    return code, out

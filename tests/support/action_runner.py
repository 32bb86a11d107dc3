"""Run a composite action's ``run:`` steps the way a GitHub runner does, without GitHub.

:func:`run_action` reads ``action.yml``, applies the input defaults, and takes the steps in
order.  Each step's ``if:`` (default ``success()``) and each ``${{ }}`` in its ``env:`` and
``with:`` are evaluated here by a small evaluator of the expressions the action uses
(contexts ``inputs``, ``steps``, ``runner``, ``github``, ``secrets``, ``vars``; operators
``&& || ! == !=``; ``always() success() failure() cancelled()``).  A ``run:`` step runs as
the runner runs ``shell: bash``: ``bash --noprofile --norc -eo pipefail <script file>``, in
the workspace, with fresh ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_ENV`` and
``GITHUB_PATH`` files per step, ``GITHUB_ACTION_PATH`` (the repository root),
``RUNNER_TEMP``, ``RUNNER_OS`` (``Linux`` unless told) and ``GITHUB_ACTIONS=true``; the outputs written to
``GITHUB_OUTPUT`` (``name=value`` and ``name<<DELIMITER`` heredocs) become
``steps.<id>.outputs``.

A ``uses:`` step (``actions/setup-python``, ``actions/upload-artifact``) needs GitHub and is
not run: it is recorded as skipped with the ``with:`` it would have received, and the outputs
the caller says it would have given (``uses_outputs``).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import REPO
from .project import URL_VARIABLES

ACTION = REPO / "action.yml"

_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\))"
    r"|(?P<func>always|success|failure|cancelled)\(\)"
    r"|(?P<bool>true|false)\b|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<ctx>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))"
)


def evaluate(expression: str, contexts: Mapping[str, Any], *, failed: bool = False) -> Any:
    """Evaluate one expression (without ``${{ }}``) as GitHub does, for the forms used here."""
    out: list[str] = []
    values: list[Any] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot evaluate {expression!r} at {text[pos:]!r}")
        pos = m.end()
        if m["str"] is not None:
            values.append(m["str"][1:-1].replace("''", "'"))
            out.append(f"_v[{len(values) - 1}]")
        elif m["op"]:
            out.append(
                {"&&": " and ", "||": " or ", "!": " not ", "==": "==", "!=": "!="}.get(m["op"], m["op"])
            )
        elif m["func"]:
            out.append(
                str({"always": True, "success": not failed, "failure": failed, "cancelled": False}[m["func"]])
            )
        elif m["bool"]:
            out.append("True" if m["bool"] == "true" else "False")
        elif m["num"]:
            out.append(m["num"])
        else:
            values.append(_lookup(m["ctx"], contexts))
            out.append(f"_v[{len(values) - 1}]")
    return eval("".join(out), {"__builtins__": {}}, {"_v": values})


def _lookup(path: str, contexts: Mapping[str, Any]) -> Any:
    head, *rest = path.split(".")
    if head not in contexts:
        raise ValueError(f"unknown context {head!r} in {path!r}")
    value: Any = contexts[head]
    for part in rest:
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def render(value: Any) -> str:
    """A value as GitHub puts it into a string."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def interpolate(text: Any, contexts: Mapping[str, Any]) -> str:
    """``text`` with each ``${{ expr }}`` replaced by its value."""
    return _EXPR.sub(lambda m: render(evaluate(m[1], contexts)), render(text))


def condition(text: str | None, contexts: Mapping[str, Any], failed: bool) -> bool:
    """An ``if:``: ``${{ }}`` optional, ``success()`` when absent."""
    if text is None:
        return not failed
    raw = str(text).strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", raw, re.DOTALL)
    expr = m[1] if m else raw
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", expr):
        expr = f"success() && ({expr})"
    return bool(evaluate(expr, contexts, failed=failed))


def parse_output_file(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``name=value`` or ``name<<DELIM`` heredocs."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"output {name}: delimiter {delimiter} not found")
            i += 1
            values[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            values[name] = value
    return values


@dataclass
class StepResult:
    name: str
    id: str | None
    kind: str  # "run" or "uses"
    ran: bool
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    with_: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]

    @property
    def failed(self) -> bool:
        return any(s.ran and s.returncode not in (0, None) for s in self.steps)

    @property
    def log(self) -> str:
        """Everything the steps printed, in order (what the job log shows)."""
        return "".join(s.stdout + s.stderr for s in self.steps)

    @property
    def summary(self) -> str:
        """The job's step summary: every step's summary file, in order."""
        return "".join(s.summary for s in self.steps)

    def step(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)


def load_action(path: Path = ACTION) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run_action(
    inputs: Mapping[str, Any],
    *,
    workspace: Path,
    runner_temp: Path,
    files: Path,
    env: Mapping[str, str],
    uses_outputs: Mapping[str, Mapping[str, str]] | None = None,
    only: set[str] | None = None,
    given_outputs: Mapping[str, Mapping[str, str]] | None = None,
    github: Mapping[str, str] | None = None,
    runner_os: str = "Linux",
    timeout: float = 300,
    on_start: Mapping[str, Callable[[subprocess.Popen], None]] | None = None,
) -> ActionRun:
    """Run ``action.yml`` with ``inputs`` (see the module docstring).

    ``env`` is the job's environment (including what the calling step's ``env:`` sets);
    ``files`` is a directory for the per-step files; ``only`` limits the run to these step ids,
    and ``given_outputs`` gives the outputs of steps it leaves out (by id), as if they had run
    (the install step's ``python``, to run the action's run step alone).
    ``on_start`` maps a step id to a function called (in a thread) with the step's process
    once started: its bash is the entry process, in a process group of its own, as a
    runner's is (a test sends it the signals a cancelled job gets).
    """
    action = load_action()
    declared = action.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ValueError(f"inputs not declared in action.yml: {sorted(unknown)}")
    values = {name: render(inputs.get(name, spec.get("default", ""))) for name, spec in declared.items()}
    for name, spec in declared.items():
        if spec.get("required") and not values[name]:
            raise ValueError(f"required input {name} missing")
    steps_ctx: dict[str, dict[str, Any]] = {}
    gh = {
        "action_path": str(REPO),
        "job": "migrate",
        "run_attempt": "1",
        "run_id": "4711",
        "repository": "flowstate/app",
        "workspace": str(workspace),
        **(github or {}),
    }
    contexts = {
        "inputs": values,
        "steps": steps_ctx,
        "runner": {"os": runner_os, "temp": str(runner_temp)},
        "github": gh,
        "env": dict(env),
    }
    files.mkdir(parents=True, exist_ok=True)
    results: list[StepResult] = []
    failed = False
    for number, step in enumerate(action["runs"]["steps"], start=1):
        sid = step.get("id")
        name = step.get("name") or sid or f"step {number}"
        kind = "uses" if "uses" in step else "run"
        result = StepResult(name, sid, kind, ran=False)
        results.append(result)
        if only is not None and sid not in only:
            if sid and given_outputs and sid in given_outputs:
                steps_ctx[sid] = {"outputs": dict(given_outputs[sid]), "outcome": "success", "conclusion": "success"}
            continue
        if not condition(step.get("if"), contexts, failed):
            continue
        result.env = {k: interpolate(v, contexts) for k, v in (step.get("env") or {}).items()}
        if kind == "uses":
            result.with_ = {k: interpolate(v, contexts) for k, v in (step.get("with") or {}).items()}
            result.outputs = dict((uses_outputs or {}).get(sid or "", {}))
            if sid:
                steps_ctx[sid] = {"outputs": result.outputs, "outcome": "success", "conclusion": "success"}
            continue
        assert step.get("shell") == "bash", f"{name}: every run step names its shell"
        paths = {
            key: files / f"{number:02d}-{key.lower()}"
            for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")
        }
        for p in paths.values():
            p.write_text("")
        script = files / f"{number:02d}-script.sh"
        script.write_text(step["run"])
        step_env = {
            **env,
            **{k: str(v) for k, v in paths.items()},
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_ACTION_PATH": str(REPO),
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_JOB": gh["job"],
            "GITHUB_RUN_ATTEMPT": gh["run_attempt"],
            "GITHUB_RUN_ID": gh["run_id"],
            "GITHUB_REPOSITORY": gh["repository"],
            "RUNNER_TEMP": str(runner_temp),
            "RUNNER_OS": contexts["runner"]["os"],
            **result.env,
        }
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=step.get("working-directory") or workspace,
            env=step_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        hook = (on_start or {}).get(sid or "")
        watcher = threading.Thread(target=hook, args=(proc,), daemon=True) if hook else None
        if watcher:
            watcher.start()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        if watcher:
            watcher.join(timeout=30)
        result.ran = True
        result.returncode = proc.returncode
        result.stdout, result.stderr = stdout, stderr
        result.outputs = parse_output_file(paths["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
        result.summary = paths["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        outcome = "success" if proc.returncode == 0 else "failure"
        if sid:
            steps_ctx[sid] = {"outputs": result.outputs, "outcome": outcome, "conclusion": outcome}
        failed = failed or proc.returncode != 0
    outputs = {
        name: interpolate(spec.get("value", ""), contexts)
        for name, spec in (action.get("outputs") or {}).items()
    }
    return ActionRun(results, outputs)


# -- the workflows that use the action ----------------------------------------------------

WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow as YAML; ``on`` stays a string key (YAML 1.1 reads a bare ``on`` as True)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def all_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step of every job of a workflow."""
    return [s for job in doc["jobs"].values() for s in job.get("steps") or []]


def job_env(**extra: str) -> dict[str, str]:
    """A job's environment on the runner: this process's, without database URLs or the
    GitHub and action variables a test sets itself, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in URL_VARIABLES and not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "ORCH_"))
    }
    env.update(extra)
    return env


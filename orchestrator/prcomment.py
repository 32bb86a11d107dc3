"""The pull request's sticky comment: the plan, the lint findings, the verify result.

``db-pr-check.yml`` runs ``python -m orchestrator.prcomment`` after its dry run and its
verify.  On a pull request from the same repository it keeps one comment on the pull
request up to date: the comment holding :data:`MARKER` is found among the pull request's
issue comments and edited in place (``PATCH``), or created (``POST``) the first time.  A
pull request from a fork gets no comment (its token cannot write, and the workflow does
not even give it one): the same text goes to the job summary instead, and the step still
succeeds.  Neither can a failing API call fail the check: it warns and writes the summary.

The body passes through :func:`redaction.redact` and stays under GitHub's 65,536-character
limit: the SQL, folded in ``<details>``, is trimmed first, then the verify output, then the
list of findings.  Standard library only, like :mod:`orchestrator.github`.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runlog
from .redaction import redact, register_secret

MARKER = "<!-- orchestrator:pr-check -->"
LIMIT = 65_536  # GitHub refuses a longer issue comment body
BUDGET = 60_000  # what the body aims at, leaving room for the marker and a margin
# Steps of trimming, tried in order until the body fits: characters of SQL shown per
# migration, characters of the verify output's tail, findings listed.
_TRIMS: tuple[tuple[int | None, int | None, int | None], ...] = (
    (None, None, None),
    (6_000, 12_000, None),
    (2_000, 6_000, 200),
    (500, 3_000, 100),
    (0, 2_000, 50),
    (0, 1_000, 20),
)
_ICON = {"error": "❌", "warning": "⚠️", "notice": "ℹ️"}


@dataclass
class Report:
    """What the comment says, read from the PR check's files."""

    run_log: dict[str, Any] | None
    findings: list[dict[str, Any]] = field(default_factory=list)
    verify_output: str | None = None
    verify_exit_code: int | None = None


@dataclass(frozen=True)
class Where:
    """Where the files are: the repository on GitHub, the commit the links point at, and
    how the paths in the run log and the lint JSON map onto the repository's root."""

    repository: str  # OWNER/REPO
    sha: str
    server: str = "https://github.com"
    repo_root: Path = Path(".")
    project_dir: str = "."  # the action's working-directory, relative to the repository root
    run_url: str | None = None

    def path(self, file: str) -> str:
        """``file`` relative to the repository's root, with forward slashes.

        The run log names plan files relative to the project, the lint JSON and the
        review's findings name them absolutely."""
        p = Path(file)
        if p.is_absolute():
            try:
                return p.resolve().relative_to(self.repo_root.resolve()).as_posix()
            except ValueError:
                return p.as_posix()
        return Path(os.path.normpath(Path(self.project_dir) / p)).as_posix()

    def link(self, file: str, line: int | None = None) -> str:
        quoted = urllib.parse.quote(self.path(file))
        url = f"{self.server}/{self.repository}/blob/{self.sha}/{quoted}"
        return f"{url}#L{line}" if line else url


# -- reading the inputs ------------------------------------------------------------------


def load(run_log: Path | None, lint_json: Path | None = None, verify_output: Path | None = None,
         verify_exit_code: int | None = None) -> Report:
    """The report from the PR check's files; any of them may be missing (a step that did
    not run), which the comment then says."""
    doc = None
    if run_log is not None and run_log.is_file():
        doc = runlog.read(run_log)
    if lint_json is not None and lint_json.is_file():
        findings = json.loads(lint_json.read_text(encoding="utf-8") or "[]")
    else:
        findings = list((doc or {}).get("findings") or [])
    text = None
    if verify_output is not None and verify_output.is_file():
        text = verify_output.read_text(encoding="utf-8", errors="replace")
    return Report(doc, findings, text, verify_exit_code)


def find_artifacts(directory: Path) -> tuple[Path | None, Path | None]:
    """The dry run's run log and verify's output among the action's downloaded artifacts
    (one directory each, named ``orchestrator-<env>-<action>-<job>-attempt<n>-<id>``, as
    action/run.sh names them): the run log of a dry run, the ``output.txt`` of the verify."""
    run_log = verify = None
    for path in sorted(directory.glob("*/run.json")):
        try:
            doc = runlog.read(path)
        except (OSError, ValueError):
            continue
        if doc.get("dry_run") and (run_log is None or doc.get("started_at", "") >= runlog.read(run_log).get("started_at", "")):
            run_log = path
    for path in sorted(directory.glob("*-verify-*/output.txt")):
        verify = path
    return run_log, verify


# -- the body ----------------------------------------------------------------------------


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _code(text: str, lang: str = "") -> list[str]:
    fence = _fence(text)
    return [f"{fence}{lang}", text.rstrip("\n"), fence]


def _cell(text: Any) -> str:
    """A Markdown table cell: one line, no column breaks, no HTML."""
    return html.escape(" ".join(str(text).split())).replace("|", "\\|")


def _trim_head(text: str, limit: int | None, what: str, where: str | None = None) -> str:
    """``text`` cut to ``limit`` characters, saying where the rest is (``where``; by default
    the run-log artifact, which a cut migration's SQL is not whole in either)."""
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rstrip() + f"\n… ({len(text) - limit} more characters of {what}: {where or 'see the run-log artifact'})"


def _trim_tail(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"… ({len(text) - limit} earlier characters: see the run-log artifact)\n" + text[-limit:].lstrip()


def _verify_line(report: Report) -> str:
    code = report.verify_exit_code
    if code is None and report.verify_output is None:
        return "**Verify:** not run"
    if code == 0:
        return "**Verify:** ✅ passed (apply each, roll each back, apply all again, schema drift, time budget)"
    if code is None:
        return "**Verify:** result unknown (see its output below)"
    return f"**Verify:** ❌ failed (exit code {code}): see its output below"


def render(report: Report, where: Where, *, sql_chars: int | None = None, verify_chars: int | None = None,
           max_findings: int | None = None) -> str:
    """The comment body, untrimmed unless limits are given (see :func:`body`)."""
    out = [MARKER, "## orchestrator: database migrations in this pull request", "", _verify_line(report), ""]
    doc = report.run_log
    plan = (doc or {}).get("plan")
    if not plan:
        reason = (doc or {}).get("error") or "the dry run wrote no plan (see the workflow run)"
        out += [f"**Plan:** none: {reason}", ""]
    elif not plan.get("migrations"):
        out += [f"**Plan:** nothing to apply · plan hash `{plan['hash']}`", ""]
    else:
        migrations = plan["migrations"]
        out += [
            f"**Plan** ({plan['direction']}, {len(migrations)} migration(s), from version "
            f"`{plan.get('from_version') or '(none)'}` to `{plan.get('target_version') or '(none)'}`) · "
            f"plan hash `{plan['hash']}`",
            "",
            "| file | transaction | reversible |",
            "| --- | --- | --- |",
        ]
        for m in migrations:
            out.append(f"| [{_cell(where.path(m['file']))}]({where.link(m['file'])}) | "
                       f"{'yes' if m.get('transaction', True) else 'no'} | "
                       f"{'yes' if m.get('reversible', True) else 'no'} |")
        out.append("")
        if sql_chars != 0:
            for m in migrations:
                sql = _trim_head(m.get("sql") or "", sql_chars, "SQL", runlog.WHOLE_SQL if m.get("sql_cut") else None)
                out += [f"<details><summary>SQL of <code>{html.escape(where.path(m['file']))}</code></summary>", "",
                        *_code(sql, "sql"), "", "</details>", ""]
        else:
            out += ["_The SQL is too long for a comment: it is in the step summary and the run-log artifact._", ""]
    findings = report.findings
    active = [f for f in findings if not f.get("suppressed")]
    errors = sum(1 for f in active if f.get("severity") == "error")
    out.append(f"### Lint: {errors} error(s), {len(active) - errors} warning(s)"
               + (f", {len(findings) - len(active)} ignored" if len(findings) > len(active) else ""))
    out.append("")
    if findings:
        shown = findings if max_findings is None else findings[:max_findings]
        out += ["| severity | rule | where | message |", "| --- | --- | --- | --- |"]
        for f in shown:
            severity = f"ignored ({_cell(f.get('reason') or '')})" if f.get("suppressed") else (
                f"{_ICON.get(f.get('severity', ''), '')} {_cell(f.get('severity', ''))}")
            place = f"{where.path(f['file'])}:{f['line']}"
            out.append(f"| {severity} | `{_cell(f['rule'])}` | [{_cell(place)}]({where.link(f['file'], f['line'])}) | "
                       f"{_cell(f.get('message', ''))} |")
        if len(shown) < len(findings):
            out.append(f"\n… and {len(findings) - len(shown)} more finding(s): see the run-log artifact.")
        out.append("")
    else:
        out += ["No findings.", ""]
    if report.verify_output:
        out += ["<details><summary>Verify output</summary>", "",
                *_code(_trim_tail(report.verify_output, verify_chars), "text"), "", "</details>", ""]
    footer = f"Updated for {where.sha[:12]}" if where.sha else "Updated"
    if where.run_url:
        footer += f" · [workflow run]({where.run_url})"
    out.append(f"<sub>{footer} · this comment is edited in place on every push.</sub>")
    return "\n".join(out) + "\n"


def body(report: Report, where: Where, limit: int = BUDGET) -> str:
    """The redacted body, trimmed step by step until it is at most ``limit`` characters."""
    text = ""
    for sql_chars, verify_chars, max_findings in _TRIMS:
        text = redact(render(report, where, sql_chars=sql_chars, verify_chars=verify_chars,
                             max_findings=max_findings))
        if len(text) <= limit:
            return text
    note = "\n\n… (cut short: the rest is in the step summary and the run-log artifact)\n"
    return text[: limit - len(note)] + note


# -- GitHub's REST API -------------------------------------------------------------------


class ApiError(Exception):
    """A GitHub API call failed (the status and GitHub's message, never the token)."""


@dataclass
class Api:
    """The three calls the comment needs, over ``urllib`` (no dependency)."""

    url: str  # GITHUB_API_URL, e.g. https://api.github.com
    token: str
    timeout: float = 30.0

    def _call(self, method: str, url: str, payload: Mapping[str, Any] | None = None) -> tuple[Any, str]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "orchestrator-pr-comment",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (https or loopback)
                text = response.read().decode("utf-8")
                return (json.loads(text) if text else None), response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise ApiError(redact(f"{method} {url}: HTTP {exc.code} {detail}")) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ApiError(redact(f"{method} {url}: {exc}")) from exc

    def comments(self, repository: str, number: int) -> list[dict[str, Any]]:
        """Every issue comment of the pull request, following the ``Link: rel="next"`` pages."""
        url: str | None = f"{self.url}/repos/{repository}/issues/{number}/comments?per_page=100"
        found: list[dict[str, Any]] = []
        while url:
            page, link = self._call("GET", url)
            found += page or []
            m = re.search(r'<([^>]+)>;\s*rel="next"', link or "")
            url = m[1] if m else None
        return found

    def create(self, repository: str, number: int, text: str) -> dict[str, Any]:
        return self._call("POST", f"{self.url}/repos/{repository}/issues/{number}/comments", {"body": text})[0]

    def update(self, repository: str, comment_id: int, text: str) -> dict[str, Any]:
        return self._call("PATCH", f"{self.url}/repos/{repository}/issues/comments/{comment_id}", {"body": text})[0]


def upsert(api: Api, repository: str, number: int, text: str) -> tuple[str, dict[str, Any]]:
    """Edit the comment holding :data:`MARKER` (the oldest, if several), else create it."""
    for comment in api.comments(repository, number):
        if MARKER in (comment.get("body") or ""):
            return "updated", api.update(repository, int(comment["id"]), text)
    return "created", api.create(repository, number, text)


# -- the command -------------------------------------------------------------------------


def _summary(text: str, env: Mapping[str, str]) -> bool:
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
    return True


def publish(report: Report, where: Where, *, number: int | None, head_repository: str | None,
            env: Mapping[str, str], api_url: str, out: Any = None) -> str:
    """Comment (same-repository pull request with a token) or write the job summary.

    Returns what was done: ``created``, ``updated``, ``summary`` (a fork, or no token or
    number) or ``failed`` (the API refused: warned, and the summary written).  The summary is
    written in every case, so the job's page shows the same text."""
    out = sys.stdout if out is None else out
    text = body(report, where)
    _summary(text, env)
    token = env.get("GITHUB_TOKEN", "")
    same_repo = bool(head_repository) and head_repository == where.repository
    if not same_repo:
        print(f"Pull request from {head_repository or 'an unknown repository'} (a fork, or not a pull request): "
              "no comment; the plan and the findings are in the job summary.", file=out)
        return "summary"
    if not token or not number:
        print("No GITHUB_TOKEN or pull request number: no comment; the text is in the job summary.", file=out)
        return "summary"
    register_secret(token)
    try:
        done, comment = upsert(Api(api_url.rstrip("/"), token), where.repository, number, text)
    except ApiError as exc:
        print(f"::warning title=orchestrator PR comment::could not comment on the pull request ({exc}); "
              "the text is in the job summary", file=out)
        return "failed"
    print(f"Comment {done}: {(comment or {}).get('html_url', '')}", file=out)
    return done


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    p = argparse.ArgumentParser(prog="python -m orchestrator.prcomment", description=__doc__.split("\n\n")[0])
    p.add_argument("--run-log", type=Path, help="the run log (JSON) of the PR check's dry run")
    p.add_argument("--lint-json", type=Path, help="`orchestrator lint --json` output (default: the run log's findings)")
    p.add_argument("--verify-output", type=Path, help="what `orchestrator verify` printed")
    p.add_argument("--verify-exit-code", help="verify's exit code (empty: not run)")
    p.add_argument("--artifacts", type=Path,
                   help="the action's artifacts of the check job, downloaded into one directory each: "
                        "the dry run's run log and verify's output are found there")
    p.add_argument("--pr", default=env.get("ORCH_PR_NUMBER", ""), help="pull request number (ORCH_PR_NUMBER)")
    p.add_argument("--sha", default=env.get("ORCH_HEAD_SHA") or env.get("GITHUB_SHA", ""),
                   help="the commit the links point at (ORCH_HEAD_SHA, else GITHUB_SHA)")
    p.add_argument("--head-repo", default=env.get("ORCH_HEAD_REPO", ""),
                   help="OWNER/REPO the pull request comes from (ORCH_HEAD_REPO)")
    p.add_argument("--repo-root", type=Path, default=Path(env.get("GITHUB_WORKSPACE") or "."),
                   help="the repository's root on this machine (GITHUB_WORKSPACE)")
    p.add_argument("--project-dir", default=".", help="the action's working-directory, relative to the root")
    p.add_argument("--print", action="store_true", help="print the body and stop (no API call, no summary)")
    args = p.parse_args(argv)
    code = args.verify_exit_code
    if args.artifacts is not None:
        found_log, found_verify = find_artifacts(args.artifacts)
        args.run_log = args.run_log or found_log
        args.verify_output = args.verify_output or found_verify
    report = load(args.run_log, args.lint_json, args.verify_output,
                  int(code) if code not in (None, "") else None)
    repository = env.get("GITHUB_REPOSITORY", "")
    run_url = None
    if repository and env.get("GITHUB_RUN_ID"):
        run_url = f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
    where = Where(repository=repository, sha=args.sha, server=env.get("GITHUB_SERVER_URL", "https://github.com"),
                  repo_root=args.repo_root, project_dir=args.project_dir, run_url=run_url)
    if args.print:
        sys.stdout.write(body(report, where))
        return 0
    number = int(args.pr) if str(args.pr).isdigit() else None
    publish(report, where, number=number, head_repository=args.head_repo or None, env=env,
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

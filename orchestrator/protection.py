"""Fail closed: refuse to deploy to a protected environment that GitHub does not protect.

GitHub creates an environment that a job names but that does not exist, *without* any
protection rule: a misspelled or forgotten ``production`` runs unapproved.  Before an apply to
a protected environment (``production`` unless told otherwise), ``db-migrate.yml`` runs::

    python -m orchestrator.protection --environment production [--protected production,staging]

which asks GitHub's REST API (with ``GITHUB_TOKEN``; ``actions: read`` for a private
repository) and refuses (exit 2) unless

* the run comes from the repository's default branch (``GET /repos/{owner}/{repo}``:
  ``default_branch``, against ``GITHUB_REF``);
* the environment exists (``GET /repos/{owner}/{repo}/environments/{name}``; 404: missing);
* it has a ``required_reviewers`` protection rule naming at least one reviewer.

It also reports ``prevent_self_review`` and the deployment branch policy (warnings when
absent: they are advice, not conditions).  Any other answer (401, 403, 5xx, no network)
fails too (exit 1): nothing is assumed protected that was not seen to be.  An environment
not in the protected list is not checked (exit 0).

Standard library only (``urllib``), like :mod:`orchestrator.github`: it runs in a workflow
step before the deploy's own dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote

from .github import escape_data
from .redaction import redact

DEFAULT_PROTECTED = ("production",)
API_VERSION = "2022-11-28"
TIMEOUT = 20.0  # seconds per request

OK, FAILED, REFUSED = 0, 1, 2

SETUP_HELP = (
    "Settings → Environments → New environment ({env}): add Required reviewers (and tick "
    "Prevent self-review), set Deployment branches to the default branch; "
    "see docs/github.md#set-up-environments-and-reviewers"
)


class ApiError(Exception):
    """GitHub answered something other than what the check can judge."""


@dataclass
class Verdict:
    """What the check found: ``problems`` refuse the deploy, ``notes`` and ``warnings`` do not."""

    environment: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def get_json(api_url: str, path: str, token: str) -> tuple[int, Any]:
    """``GET api_url + path``: the status and the JSON body (``None`` for a 404)."""
    request = urllib.request.Request(
        api_url.rstrip("/") + path,
        headers={
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "orchestrator-protection-check",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (https or loopback)
            return response.status, json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 404, None
        detail = exc.read().decode("utf-8", "replace")[:300]
        hint = " (the job needs `permissions: actions: read`)" if exc.code in (401, 403) else ""
        raise ApiError(f"GET {path}: HTTP {exc.code}{hint}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ApiError(f"GET {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(f"GET {path}: not JSON: {exc}") from exc


def judge(environment: str, ref: str, repo: Mapping[str, Any], env: Mapping[str, Any] | None) -> Verdict:
    """The verdict from the two API answers (pure: the tests feed it recorded answers)."""
    verdict = Verdict(environment)
    default = str(repo.get("default_branch") or "")
    if ref != f"refs/heads/{default}":
        verdict.problems.append(
            f"this run comes from {ref or 'an unknown ref'}; {environment} deploys only from the default "
            f"branch {default!r}: run `gh workflow run db-migrate.yml --ref {default} ...`"
        )
    if env is None:
        verdict.problems.append(
            f"environment {environment!r} does not exist, and GitHub would create it without protection: "
            + SETUP_HELP.format(env=environment)
        )
        return verdict
    rules = list(env.get("protection_rules") or [])
    reviewers_rule = next((r for r in rules if r.get("type") == "required_reviewers"), None)
    reviewers = list((reviewers_rule or {}).get("reviewers") or [])
    if not reviewers:
        verdict.problems.append(
            f"environment {environment!r} has no required reviewers, so nobody approves the apply: "
            + SETUP_HELP.format(env=environment)
        )
    else:
        names = ", ".join(_reviewer_name(r) for r in reviewers)
        verdict.notes.append(f"required reviewers: {names}")
        if reviewers_rule and reviewers_rule.get("prevent_self_review"):
            verdict.notes.append("prevent self-review: on")
        else:
            verdict.warnings.append(
                f"environment {environment!r} lets whoever started the run approve it: tick Prevent self-review"
            )
    for rule in rules:
        if rule.get("type") == "wait_timer" and rule.get("wait_timer"):
            verdict.notes.append(f"wait timer: {rule['wait_timer']} minute(s)")
    policy = env.get("deployment_branch_policy")
    if policy:
        kind = "protected branches" if policy.get("protected_branches") else "selected branches and tags"
        verdict.notes.append(f"deployment branch policy: {kind}")
    else:
        verdict.warnings.append(
            f"environment {environment!r} accepts deployments from any branch: set Deployment branches"
        )
    return verdict


def _reviewer_name(entry: Mapping[str, Any]) -> str:
    who = entry.get("reviewer") or {}
    name = who.get("login") or who.get("slug") or who.get("name") or "?"
    return f"{name} ({str(entry.get('type') or '').lower() or 'reviewer'})"


def check(
    environment: str, *, repository: str, ref: str, token: str, api_url: str = "https://api.github.com"
) -> Verdict:
    """Ask GitHub about ``repository`` and ``environment``; raises :class:`ApiError`."""
    if "/" not in repository:
        raise ApiError(f"GITHUB_REPOSITORY must be owner/name, got {repository!r}")
    owner, name = repository.split("/", 1)
    base = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
    status, repo = get_json(api_url, base, token)
    if status == 404 or not isinstance(repo, dict):
        raise ApiError(f"GET {base}: repository not found (or the token cannot see it)")
    _, env = get_json(api_url, f"{base}/environments/{quote(environment, safe='')}", token)
    return judge(environment, ref, repo, env if isinstance(env, dict) else None)


def _say(line: str, out: TextIO) -> None:
    print(redact(line), file=out)


def report(verdict: Verdict, out: TextIO) -> int:
    """Print the verdict as workflow commands and plain lines; the exit code."""
    env = verdict.environment
    for note in verdict.notes:
        _say(f"{env}: {note}", out)
    for warning in verdict.warnings:
        _say(f"::warning title=environment protection::{escape_data(warning)}", out)
    for problem in verdict.problems:
        _say(f"::error title=unprotected environment::{escape_data(problem)}", out)
    if verdict.ok:
        _say(f"{env}: protected (required reviewers, default branch): the apply may run", out)
        return OK
    _say(f"{env}: refused: nothing was applied", out)
    return REFUSED


def protected_names(text: str) -> list[str]:
    return [n.strip() for n in text.replace(",", " ").split() if n.strip()]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.protection",
        description="Refuse a deploy to a protected environment that GitHub does not protect.",
    )
    parser.add_argument("--environment", required=True, help="the GitHub environment the apply runs in")
    parser.add_argument(
        "--protected",
        default="",
        help="environments that must be protected, comma or space separated (default: production)",
    )
    args = parser.parse_args(argv)
    protected = protected_names(args.protected) or list(DEFAULT_PROTECTED)
    if args.environment not in protected:
        _say(f"{args.environment}: not in the protected list ({', '.join(protected)}): not checked", out)
        return OK
    try:
        verdict = check(
            args.environment,
            repository=environ.get("GITHUB_REPOSITORY", ""),
            ref=environ.get("GITHUB_REF", ""),
            token=environ.get("GITHUB_TOKEN", ""),
            api_url=environ.get("GITHUB_API_URL") or "https://api.github.com",
        )
    except ApiError as exc:
        message = f"cannot check {args.environment!r}'s protection, so nothing is applied: {exc}"
        _say(f"::error title=environment protection unknown::{escape_data(message)}", out)
        return FAILED
    return report(verdict, out)


if __name__ == "__main__":
    sys.exit(main())

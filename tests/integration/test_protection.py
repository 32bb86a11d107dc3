"""The protection check (``orchestrator.protection``) against GitHub's REST API answers.

GitHub itself cannot be reached from here, so it is mocked: a local HTTP server on loopback
serves recorded answers of ``GET /repos/{owner}/{repo}`` and
``GET /repos/{owner}/{repo}/environments/{name}`` (the shapes GitHub documents for API
version 2022-11-28, trimmed to the fields the check reads plus a few neighbours), and the
check is run as the workflow runs it: ``main()`` with ``GITHUB_API_URL`` pointing at it.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator import protection

REPO = {"id": 1296269, "full_name": "flowstate/app", "private": True, "default_branch": "main"}
REVIEWERS = {
    "id": 3755,
    "node_id": "MDQ6R2F0ZTM3NTU=",
    "type": "required_reviewers",
    "prevent_self_review": True,
    "reviewers": [
        {"type": "User", "reviewer": {"login": "octocat", "id": 1, "type": "User"}},
        {"type": "Team", "reviewer": {"id": 1, "slug": "dba", "name": "DBA"}},
    ],
}
PROTECTED = {
    "id": 161088068,
    "name": "production",
    "url": "https://api.github.com/repos/flowstate/app/environments/production",
    "html_url": "https://github.com/flowstate/app/deployments/activity_log?environments_filter=production",
    "created_at": "2026-01-12T10:00:00Z",
    "updated_at": "2026-01-12T10:05:00Z",
    "protection_rules": [
        {"id": 3736, "node_id": "MDQ6R2F0ZTM3MzY=", "type": "wait_timer", "wait_timer": 5},
        REVIEWERS,
        {"id": 3756, "node_id": "MDQ6R2F0ZTM3NTY=", "type": "branch_policy"},
    ],
    "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
}
NO_REVIEWERS = {**PROTECTED, "protection_rules": [], "deployment_branch_policy": None}
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}


class RecordedGitHub:
    """Serves ``answers`` (path -> (status, body)) and records the requests it got."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, object]] = {}
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                status, body = owner.answers.get(self.path, (404, NOT_FOUND))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def github() -> Iterator[RecordedGitHub]:
    gh = RecordedGitHub()
    thread = threading.Thread(target=gh.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gh
    finally:
        gh.server.shutdown()
        gh.server.server_close()
        thread.join(5)


def run_check(github: RecordedGitHub, *args: str, ref: str = "refs/heads/main") -> tuple[int, str]:
    out = io.StringIO()
    environ = {
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "flowstate/app",
        "GITHUB_REF": ref,
        "GITHUB_TOKEN": "ghs_recordedtoken",
    }
    code = protection.main(["--environment", "production", *args], environ=environ, out=out)
    return code, out.getvalue()


def answer(github: RecordedGitHub, environment: object, status: int = 200) -> None:
    github.answers["/repos/flowstate/app"] = (200, REPO)
    github.answers["/repos/flowstate/app/environments/production"] = (status, environment)


def test_protected_environment_from_the_default_branch_may_deploy(github):
    answer(github, PROTECTED)
    code, out = run_check(github)
    assert code == protection.OK, out
    assert "production: required reviewers: octocat (user), dba (team)" in out
    assert "prevent self-review: on" in out and "wait timer: 5 minute(s)" in out
    assert "deployment branch policy: selected branches and tags" in out
    assert "::error" not in out and "::warning" not in out
    assert "the apply may run" in out
    # asked as GitHub asks to be asked: the token, the API version, JSON
    env_request = next(r for r in github.requests if r["path"].endswith("/environments/production"))
    assert env_request["authorization"] == "Bearer ghs_recordedtoken"
    assert env_request["x-github-api-version"] == "2022-11-28"
    assert env_request["accept"] == "application/vnd.github+json"


def test_missing_environment_is_refused(github):
    answer(github, NOT_FOUND, status=404)
    code, out = run_check(github)
    assert code == protection.REFUSED
    assert "::error title=unprotected environment::environment 'production' does not exist" in out
    assert "Settings → Environments" in out and "Required reviewers" in out
    assert "refused: nothing was applied" in out


def test_environment_without_required_reviewers_is_refused(github):
    answer(github, NO_REVIEWERS)
    code, out = run_check(github)
    assert code == protection.REFUSED
    assert "has no required reviewers" in out
    assert "::warning title=environment protection::" in out and "accepts deployments from any branch" in out


def test_reviewers_rule_with_nobody_in_it_is_refused(github):
    empty = {**REVIEWERS, "reviewers": []}
    answer(github, {**PROTECTED, "protection_rules": [empty]})
    code, out = run_check(github)
    assert code == protection.REFUSED and "has no required reviewers" in out


def test_self_review_allowed_is_a_warning_not_a_refusal(github):
    lenient = {**REVIEWERS, "prevent_self_review": False}
    answer(github, {**PROTECTED, "protection_rules": [lenient]})
    code, out = run_check(github)
    assert code == protection.OK, out
    assert "::warning title=environment protection::" in out and "Prevent self-review" in out


def test_run_from_another_branch_is_refused(github):
    answer(github, PROTECTED)
    code, out = run_check(github, ref="refs/heads/feature/x")
    assert code == protection.REFUSED
    assert "this run comes from refs/heads/feature/x" in out
    assert "gh workflow run db-migrate.yml --ref main" in out


def test_token_without_permission_fails_closed(github):
    github.answers["/repos/flowstate/app"] = (200, REPO)
    github.answers["/repos/flowstate/app/environments/production"] = (
        403,
        {"message": "Resource not accessible by integration"},
    )
    code, out = run_check(github)
    assert code == protection.FAILED
    assert "::error title=environment protection unknown::" in out
    assert "HTTP 403" in out and "actions: read" in out
    assert "ghs_recordedtoken" not in out


def test_unreachable_api_fails_closed(github):
    github.server.shutdown()
    github.server.server_close()
    code, out = run_check(github)
    assert code == protection.FAILED and "cannot check 'production'" in out


def test_environment_outside_the_protected_list_is_not_checked(github):
    out_io = io.StringIO()
    code = protection.main(
        ["--environment", "staging", "--protected", "production"], environ={}, out=out_io
    )
    assert code == protection.OK and "not checked" in out_io.getvalue()
    assert github.requests == []  # not even asked


def test_protected_list_is_configurable(github):
    github.answers["/repos/flowstate/app"] = (200, REPO)
    out = io.StringIO()
    environ = {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "flowstate/app", "GITHUB_REF": "refs/heads/main"}
    code = protection.main(["--environment", "staging", "--protected", "staging, production"], environ=environ, out=out)
    assert code == protection.REFUSED and "environment 'staging' does not exist" in out.getvalue()

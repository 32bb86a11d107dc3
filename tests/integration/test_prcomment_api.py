"""The sticky pull-request comment against an HTTP server on loopback that speaks the three
REST calls it uses (list a pull request's issue comments, create one, edit one) and records
every request.  GitHub itself cannot be reached from the test suite, so this fake stands in
for api.github.com: it checks the calls orchestrator makes (paths, methods, headers,
pagination), not GitHub's behaviour.  The body itself: unit/test_prcomment.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from orchestrator import prcomment

EXAMPLES = Path(__file__).parents[1] / "unit" / "prcomment_examples"
REPO_NAME = "acme/shop"
TOKEN = "ghs_0123456789abcdefghij"
PAGE = 2  # the fake returns two comments a page, so that the client must follow Link


class FakeGitHub(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.comments: list[dict] = [
            {"id": 101, "body": "Looks good to me", "user": {"login": "alice"}},
            {"id": 102, "body": "squawk found nothing", "user": {"login": "squawk[bot]"}},
            {"id": 103, "body": "one more", "user": {"login": "bob"}},
        ]
        self.fail_with: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        url = urlparse(self.path)
        self.server.requests.append({"method": self.command, "path": url.path, "query": url.query,
                                     "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        if self.server.fail_with:
            return self._reply(self.server.fail_with, {"message": "Resource not accessible by integration"})
        base = f"/repos/{REPO_NAME}/issues"
        if self.command == "GET" and url.path == f"{base}/7/comments":
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            chunk = self.server.comments[(page - 1) * PAGE: page * PAGE]
            more = page * PAGE < len(self.server.comments)
            link = {"Link": f'<{self.server.url}{url.path}?per_page=100&page={page + 1}>; rel="next"'} if more else {}
            return self._reply(200, chunk, link)
        if self.command == "POST" and url.path == f"{base}/7/comments":
            comment = {"id": 900 + len(self.server.comments), "body": body["body"],
                       "html_url": f"https://github.com/{REPO_NAME}/pull/7#issuecomment-1"}
            self.server.comments.append(comment)
            return self._reply(201, comment)
        if self.command == "PATCH" and url.path.startswith(f"{base}/comments/"):
            cid = int(url.path.rsplit("/", 1)[1])
            comment = next(c for c in self.server.comments if c["id"] == cid)
            comment["body"] = body["body"]
            return self._reply(200, comment)
        return self._reply(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = _handle


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def run(github: FakeGitHub, tmp_path: Path, *, head_repo: str = REPO_NAME, sha: str = "a" * 40,
        verify: str = "0") -> Path:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO_NAME, "GITHUB_API_URL": github.url,
           "GITHUB_STEP_SUMMARY": str(summary), "ORCH_PR_NUMBER": "7", "ORCH_HEAD_SHA": sha,
           "ORCH_HEAD_REPO": head_repo, "GITHUB_RUN_ID": "42"}
    code = prcomment.main(["--run-log", str(EXAMPLES / "run.json"), "--verify-output", str(EXAMPLES / "verify.txt"),
                           "--verify-exit-code", verify, "--repo-root", "/home/runner/work/shop/shop"], env)
    assert code == 0
    return summary


def test_creates_once_then_updates_the_same_comment(github, tmp_path):
    run(github, tmp_path, sha="a" * 40)
    calls = [(r["method"], r["path"], r["query"]) for r in github.requests]
    assert calls == [
        ("GET", f"/repos/{REPO_NAME}/issues/7/comments", "per_page=100"),
        ("GET", f"/repos/{REPO_NAME}/issues/7/comments", "per_page=100&page=2"),
        ("POST", f"/repos/{REPO_NAME}/issues/7/comments", ""),
    ]
    post = github.requests[-1]
    assert post["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert post["headers"]["accept"] == "application/vnd.github+json"
    assert post["headers"]["x-github-api-version"] == "2022-11-28"
    assert post["body"]["body"].startswith(prcomment.MARKER)
    created = github.comments[-1]["id"]

    github.requests.clear()
    run(github, tmp_path, sha="b" * 40, verify="1")  # the next push
    methods = [r["method"] for r in github.requests]
    assert methods == ["GET", "GET", "PATCH"]
    assert github.requests[-1]["path"] == f"/repos/{REPO_NAME}/issues/comments/{created}"
    mine = [c for c in github.comments if prcomment.MARKER in c["body"]]
    assert len(mine) == 1 and mine[0]["id"] == created
    assert f"/blob/{'b' * 40}/db/migrations/0004_bad.sql#L3" in mine[0]["body"]
    assert "❌ failed (exit code 1)" in mine[0]["body"]
    assert len(github.comments) == 4  # the three others untouched, one of ours


def test_fork_makes_no_call_and_writes_the_summary(github, tmp_path, capsys):
    summary = run(github, tmp_path, head_repo="someone/shop")
    assert github.requests == []
    text = summary.read_text()
    assert text.startswith(prcomment.MARKER) and "plan hash" in text and "index-not-concurrent" in text
    assert "no comment" in capsys.readouterr().out


def test_a_refused_call_warns_and_does_not_fail(github, tmp_path, capsys):
    github.fail_with = 403
    summary = run(github, tmp_path)
    out = capsys.readouterr().out
    assert "::warning title=orchestrator PR comment::" in out and "HTTP 403" in out
    assert TOKEN not in out
    assert "plan hash" in summary.read_text()

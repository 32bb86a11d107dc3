#!/usr/bin/env bash
# Step 3 of the action: a virtual environment of its own under $RUNNER_TEMP, built from the
# pinned requirements (wheels only) and the package at $GITHUB_ACTION_PATH; nothing is
# installed globally.  A second use of the action in the same job reuses the environment
# when neither the interpreter nor the action's code changed.
#
# Test hook: ORCH_PYTHON, when set, names an interpreter that already has orchestrator
# installed, and nothing is built (the tests run the real build once, and this hook after).
set -euo pipefail

if [ -n "${ORCH_PYTHON:-}" ]; then
  echo "Using the interpreter given by ORCH_PYTHON: $ORCH_PYTHON"
  echo "python=$ORCH_PYTHON" >>"$GITHUB_OUTPUT"
  exit 0
fi

base="${ORCH_SETUP_PYTHON:-}"
if [ -z "$base" ]; then
  base="$(command -v python3)" || {
    echo "::error title=orchestrator action::no Python found (actions/setup-python did not run?)"
    exit 1
  }
fi
here="$GITHUB_ACTION_PATH"
venv="$RUNNER_TEMP/orchestrator-venv"
stamp="$(
  {
    "$base" -c 'import sys; print(sys.executable, sys.version)'
    cat "$here/action/requirements.txt" "$here/pyproject.toml"
    find "$here/orchestrator" -type f -name '*.py' | LC_ALL=C sort | xargs cat
  } | sha256sum | cut -d' ' -f1
)"

if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.orchestrator-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "Reusing $venv"
else
  echo "::group::Install orchestrator into $venv"
  rm -rf "$venv"
  "$base" -m venv "$venv"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
  # Every dependency is pinned there, transitive ones included: no resolver, wheels only;
  # `pip check` below proves the set complete.
  "${pip[@]}" install --quiet --no-deps --no-compile --only-binary=:all: -r "$here/action/requirements.txt"
  # Build from a copy, so that nothing is written into the action's (or the workspace's) tree.
  src="$(mktemp -d "$RUNNER_TEMP/orchestrator-src.XXXXXX")"
  cp -R "$here/pyproject.toml" "$here/README.md" "$here/orchestrator" "$src/"
  "${pip[@]}" install --quiet --no-deps --no-compile "$src"
  rm -rf "$src"
  "${pip[@]}" check
  "$venv/bin/python" -m orchestrator --version
  echo "$stamp" >"$venv/.orchestrator-stamp"
  echo "::endgroup::"
fi
echo "python=$venv/bin/python" >>"$GITHUB_OUTPUT"

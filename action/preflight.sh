#!/usr/bin/env bash
# Step 1 of the action: fail fast, before anything is installed, when the runner is not
# Linux or an input is not one the action accepts.  Inputs arrive only as ORCH_* variables
# (mapped in action.yml's env:), never as ${{ }} text inside a script.
set -euo pipefail

refuse() {
  # $1 is our own text; input values are shown only through shown() below.
  echo "::error title=orchestrator action: bad input::$1"
  {
    echo "outcome=refused"
    echo "exit-code=2"
  } >>"$GITHUB_OUTPUT"
  exit 2
}

# An input value made safe to print: no newline can start a workflow command.
shown() { printf '%s' "${1:0:80}" | tr -c 'A-Za-z0-9_.:/@+= -' '?'; }

if [ "${RUNNER_OS:-}" != "Linux" ]; then
  refuse "this action runs on Linux runners only (this runner: $(shown "${RUNNER_OS:-unknown}"))"
fi

for name in ORCH_ENVIRONMENT ORCH_ACTION ORCH_DRY_RUN ORCH_STEPS ORCH_DATABASE ORCH_EXPECT_PLAN ORCH_BACKUP \
  ORCH_CONFIG ORCH_WORKING_DIRECTORY; do
  case "${!name:-}" in
    *$'\n'* | *$'\r'*) refuse "input ${name#ORCH_} must be one line" ;;
  esac
done

[[ "${ORCH_ENVIRONMENT:-}" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] ||
  refuse "environment must be a name such as staging or production (got '$(shown "${ORCH_ENVIRONMENT:-}")')"

case "${ORCH_ACTION:-}" in
  up | rollback | status | verify | restore) ;;
  *) refuse "action must be one of up, rollback, status, verify, restore (got '$(shown "${ORCH_ACTION:-}")')" ;;
esac

case "$(printf '%s' "${ORCH_DRY_RUN:-}" | tr '[:upper:]' '[:lower:]')" in
  true | false) ;;
  *) refuse "dry_run must be true or false (got '$(shown "${ORCH_DRY_RUN:-}")')" ;;
esac

[[ "${ORCH_STEPS:-1}" =~ ^[1-9][0-9]{0,3}$ ]] ||
  refuse "steps must be a whole number from 1 (got '$(shown "${ORCH_STEPS:-}")')"

[[ -z "${ORCH_DATABASE:-}" || "$ORCH_DATABASE" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*(,[A-Za-z0-9][A-Za-z0-9_-]*)*$ ]] ||
  refuse "database must be a database name of the environment's fleet, or NAME,NAME (got '$(shown "$ORCH_DATABASE")')"

[[ -z "${ORCH_EXPECT_PLAN:-}" || "$ORCH_EXPECT_PLAN" =~ ^[0-9a-f]{64}$ ]] ||
  refuse "expect_plan must be the 64-hex plan hash of a dry run (got '$(shown "$ORCH_EXPECT_PLAN")')"

if [ "$ORCH_ACTION" = restore ]; then
  [ -n "${ORCH_BACKUP:-}" ] || refuse "action restore needs the backup input (a key or s3:// URL from 'backups list')"
fi
case "${ORCH_BACKUP:-}" in
  -*) refuse "backup must be a key or URL, not an option" ;;
esac

[ -d "${ORCH_WORKING_DIRECTORY:-.}" ] ||
  refuse "working-directory '$(shown "${ORCH_WORKING_DIRECTORY:-}")' does not exist"

echo "orchestrator action: ${ORCH_ACTION} on ${ORCH_ENVIRONMENT}, dry_run=${ORCH_DRY_RUN}"

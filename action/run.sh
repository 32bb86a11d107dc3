#!/usr/bin/env bash
# Step 4 of the action: run orchestrator once with the inputs, then publish the outputs and
# the whole step summary from one place (python -m orchestrator.github publish).
#
# This step succeeds whatever orchestrator's exit code, so that the run log is uploaded
# next; it records the code as the output exit-code, and the action's last step fails the
# job with it.
set -euo pipefail

py="${ORCH_PY:?the install step did not name a Python}"
dry="$(printf '%s' "$ORCH_DRY_RUN" | tr '[:upper:]' '[:lower:]')"
export PYTHONUNBUFFERED=1 PYTHONIOENCODING=utf-8

# Masks first: the password of every *DATABASE_URL variable, before anything can print it.
"$py" -m orchestrator.github mask

id="$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
work="$RUNNER_TEMP/orchestrator/$id"
mkdir -p "$work"
job="$(printf '%s' "${GITHUB_JOB:-job}" | tr -c 'A-Za-z0-9_-' '-')"
{
  echo "artifact-dir=$work"
  echo "artifact-name=orchestrator-$ORCH_ENVIRONMENT-$ORCH_ACTION-$job-attempt${GITHUB_RUN_ATTEMPT:-1}-$id"
} >>"$GITHUB_OUTPUT"

args=(-e "$ORCH_ENVIRONMENT")
# The database input (checked by preflight) picks fleet members; empty keeps the caller's own
# ORCHESTRATOR_DATABASE, if any, instead of clearing it.
if [ -n "${ORCH_DATABASE:-}" ]; then export ORCHESTRATOR_DATABASE="$ORCH_DATABASE"; fi
if [ -n "${ORCH_CONFIG:-}" ]; then args+=("--config=$ORCH_CONFIG"); fi
run_log=""
case "$ORCH_ACTION" in
  up | rollback)
    run_log="$work/run.json"
    args+=("$ORCH_ACTION" --run-log "$run_log")
    if [ "$ORCH_ACTION" = rollback ]; then args+=(--steps "${ORCH_STEPS:-1}"); fi
    if [ "$dry" = true ]; then args+=(--dry-run); fi
    if [ -n "${ORCH_EXPECT_PLAN:-}" ]; then args+=("--expect-plan=$ORCH_EXPECT_PLAN"); fi
    ;;
  status | verify)
    args+=("$ORCH_ACTION")
    ;;
  restore)
    args+=(restore "--backup=$ORCH_BACKUP")
    if [ "$dry" = true ]; then args+=(--dry-run); else args+=(--yes); fi
    ;;
esac

cd "${ORCH_WORKING_DIRECTORY:-.}"
echo "Running: orchestrator ${args[*]}"

# A cancelled job signals only this shell (SIGINT, SIGTERM 7.5 s later, some runners SIGHUP),
# then kills the whole process tree 2.5 s after that.  So orchestrator is not a grandchild
# behind a pipe: it runs as this shell's direct child, its output through a FIFO to tee (the
# log and output.txt), and each of those signals is passed on to it at once, so that it can
# stop cleanly and roll back (docs/pipeline.md, "Signals and cancelled jobs").  This shell
# stays alive to publish the outputs, the run log and the summary afterwards.
fifo="$RUNNER_TEMP/orchestrator/$id.fifo"
mkfifo "$fifo"
# tee ignores the signals (it stops at the end of orchestrator's output, not before).
(
  trap '' INT TERM HUP
  exec tee "$work/output.txt"
) <"$fifo" &
tee_pid=$!
pid=""
forward() {
  echo "orchestrator action: SIG$1 received, passing it on to orchestrator${pid:+ (pid $pid)}" >&2
  if [ -n "$pid" ]; then kill -s "$1" "$pid" 2>/dev/null || true; fi
}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
set +e
# `trap - INT` undoes the SIGINT-ignored a background job of a non-interactive shell gets
# (TERM and HUP are back to their defaults in a subshell already); exec keeps the pid, so
# $pid is orchestrator itself.
(
  trap - INT
  exec "$py" -m orchestrator "${args[@]}"
) >"$fifo" 2>&1 &
pid=$!
while :; do
  wait "$pid"
  code=$?
  # A trapped signal ends `wait` early (status > 128) while orchestrator still runs: wait again.
  kill -0 "$pid" 2>/dev/null || break
done
wait "$tee_pid" 2>/dev/null
rm -f "$fifo"
set -e
echo "orchestrator exited with code $code"
echo "exit-code=$code" >>"$GITHUB_OUTPUT"

publish=(--action "$ORCH_ACTION" --environment "$ORCH_ENVIRONMENT" --exit-code "$code"
  --output-file "$work/output.txt" --plan-json "$work/plan.json")
if [ -n "$run_log" ]; then publish+=(--run-log "$run_log"); fi
"$py" -m orchestrator.github publish "${publish[@]}"

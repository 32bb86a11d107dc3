"""End-to-end tests: the CLI and the action as a user runs them, each command a real
process (``project.run`` is ``python -m orchestrator``), the real dbmate, real signals.

Only what needs a process is here: a process killed or signalled, output into a closed
pipe, two processes racing, the console script, the action's bash steps.
"""

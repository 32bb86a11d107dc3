"""``python -m orchestrator`` runs the CLI."""

from .cli import script

script()

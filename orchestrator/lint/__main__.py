"""``python -m orchestrator.lint > docs/lint-rules.md``: print the generated rule reference."""

import sys

from .docs import reference_markdown

sys.stdout.write(reference_markdown())

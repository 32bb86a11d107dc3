"""orchestrator: safe PostgreSQL migration deploys for dbmate-style SQL files."""

__version__ = "0.1.0"

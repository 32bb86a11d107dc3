"""The rule families, one module each; :mod:`..registry` collects their ``RULES``."""

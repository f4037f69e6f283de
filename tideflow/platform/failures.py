"""Exceptions that fail a workflow run. Kept free of imports: the workflow sandbox re-imports
this module for every run."""


class GraphRunFailure(Exception):
    """A run that must end as failed (not retried): carries Dify's error message."""

"""The two error families of a run: bad run input, and a node that failed."""

from __future__ import annotations


class RunInputError(Exception):
    """The run's inputs do not fit the Start node (names the variable); the run fails."""


class NodeError(Exception):
    """A node failed: its error strategy (retry, default-value, fail-branch) decides what next.

    ``error_type`` is what Dify reports (the failing exception's class name). ``retried`` is
    True when Temporal already retried the work as an activity, so the engine must not retry.
    """

    def __init__(self, message: str, error_type: str = "NodeError", *, retried: bool = False):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.retried = retried

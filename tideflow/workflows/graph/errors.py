"""What the graph package reports: one ``Problem``, and the ``DSLError`` that carries many."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class Problem:
    """One user-facing mistake in an app: which node, which field of its ``data``, what is wrong.

    ``node_id`` is None for app-level problems (the YAML, the envelope, the start node).
    """

    node_id: str | None
    field: str
    message: str
    # The node's title, only to make the message readable; not part of the identity.
    title: str = dataclasses.field(default="", compare=False)

    def __str__(self) -> str:
        where = "app" if self.node_id is None else f"node {self.node_id} ({self.title})"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class DSLError(ValueError):
    """The DSL cannot be imported or compiled; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid DSL")


def app_problem(field: str, message: str) -> Problem:
    """A problem that belongs to the app as a whole rather than to one node."""
    return Problem(None, field, message)

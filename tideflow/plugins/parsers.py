"""What a document parser plugin provides, and how Tideflow finds the parser of a file.

A plugin package declares a ``Parser`` as an entry point of group ``tideflow.parsers``; the
knowledge base's ``parse_file`` picks the parser by the file's extension, and the dataset API
takes uploads of every extension a parser reads. Tideflow's built-in parsers (``text`` and
``unstructured``, in ``tideflow.activities.knowledge.parse``) register the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

log = logging.getLogger("tideflow.plugins.parsers")

GROUP = "tideflow.parsers"


class ParseError(ValueError):
    """A file that yields no text: unsupported extension, corrupt file, or nothing to read."""


@dataclass(frozen=True)
class Parser:
    """Reads the text out of files of some extensions.

    ``extensions``: lower case, without the dot (``"pdf"``). ``parse(path, filename, data_dir)``
    gets the stored file, its user-facing name (for messages) and the data dir (for caches a
    parser keeps); it returns the text. It raises ParseError (or any ValueError) naming the
    file when it cannot read it: the document fails without retries; any other exception is
    taken as a passing failure, and the ingestion retries.
    """

    name: str
    extensions: tuple[str, ...]
    parse: Callable[[Path, str, Path], str]


def parsers(allow: tuple[str, ...] | None = None) -> dict[str, Parser]:
    """Installed parsers by extension: the built-ins, then plugins' (``allow``: the allow-list,
    default the settings'). A plugin cannot take an extension already taken (a built-in's or
    an earlier plugin's), and an entry point whose object is not a Parser is left out; both
    are logged."""
    from tideflow.activities.knowledge.parse import BUILTIN_PARSERS
    from tideflow.plugins.registry import plugins

    index: dict[str, Parser] = {}
    for parser in BUILTIN_PARSERS:  # also when the entry points' metadata predates them
        index.update(dict.fromkeys(parser.extensions, parser))
    for entry_name, obj in plugins(GROUP, allow).items():
        if not isinstance(obj, Parser):
            kind = type(cast(object, obj)).__name__
            log.error("parser plugin %s is a %s, not a Parser: skipped", entry_name, kind)
            continue
        if obj in BUILTIN_PARSERS:
            continue
        extensions = {extension.lower().lstrip(".") for extension in obj.extensions}
        taken = sorted(extensions & index.keys())
        if taken:
            log.error("parser plugin %s skipped: extension(s) %s already taken", entry_name, taken)
            continue
        index.update(dict.fromkeys(extensions, obj))
    return index


def supported_extensions(allow: tuple[str, ...] | None = None) -> frozenset[str]:
    """Every extension (lower case, no dot) an installed parser reads."""
    return frozenset(parsers(allow))

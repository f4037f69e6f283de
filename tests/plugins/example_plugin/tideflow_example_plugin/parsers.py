"""Parser ``shout``: ``.shout`` files are UTF-8 text, read in capitals."""

from __future__ import annotations

from pathlib import Path

from tideflow.plugins.parsers import ParseError, Parser


def parse_shout(path: Path, filename: str, data_dir: Path) -> str:
    """The file's text, upper-cased; ParseError naming the file when it is not UTF-8."""
    del data_dir  # nothing to cache
    try:
        return path.read_bytes().decode("utf-8").upper()
    except UnicodeDecodeError as exc:
        raise ParseError(f"{filename}: a .shout file must be UTF-8 ({exc.reason})") from None


PARSER = Parser(name="shout", extensions=("shout",), parse=parse_shout)

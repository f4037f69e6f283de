"""A knowledge-base file's text, fully offline.

``parse_file`` picks the parser of the file's extension among the installed ones
(``tideflow.plugins.parsers``): the two built-ins here, registered as entry points of group
``tideflow.parsers`` as a plugin's are, and any allowed plugin's for other extensions.

Plain text and Markdown are decoded as they are (as Dify's own TextExtractor and
MarkdownExtractor do): unstructured's ``partition_text``/``partition_md`` measured ~60 MB/min on
a 5 MB file on 2 cores, most of the ingestion budget of 50 MB/min end to end, and they rewrite
the user's line structure that a custom separator splits on. Every other type goes through
unstructured (PDF with ``strategy="fast"``). Elements are joined with blank lines; a table
becomes one line per row with its cells joined by ``" | "``.

unstructured 0.27 would download a spaCy model on first use and ping telemetry, so the
environment is set before it is imported and ``prepare_offline_nlp`` points it at a blank
English pipeline with a sentencizer, saved once under the data dir.
"""

from __future__ import annotations

import codecs
import functools
import html.parser
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from tideflow.plugins.parsers import ParseError, Parser, parsers

# Before unstructured is imported anywhere through this module: no telemetry, no notice, and no
# Hugging Face downloads (strategy="fast" needs no model).
os.environ["DO_NOT_TRACK"] = "1"
os.environ["UNSTRUCTURED_DISABLE_NOTICE"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT_EXTENSIONS = frozenset({"txt", "md", "markdown", "mdx"})
UNSTRUCTURED_EXTENSIONS = frozenset({"html", "htm", "csv", "xlsx", "docx", "pptx", "pdf"})
# The built-in parsers' extensions; with plugins': tideflow.plugins.parsers.supported_extensions.
SUPPORTED_EXTENSIONS: frozenset[str] = TEXT_EXTENSIONS | UNSTRUCTURED_EXTENSIONS

TABLE_CELL_SEPARATOR = " | "

_NLP_DIR_NAME = "blank-en-sentencizer"
_prepared: set[Path] = set()
_prepare_lock = threading.Lock()


def prepare_offline_nlp(data_dir: Path) -> None:
    """Make unstructured use a local blank spaCy pipeline instead of downloading one.

    The pipeline is saved once under ``data_dir/nlp`` (built in a temporary folder and renamed,
    so concurrent workers never see half a pipeline); later calls only set the module path.
    """
    target = (data_dir / "nlp" / _nlp_folder_name()).resolve()
    with _prepare_lock:
        if target not in _prepared:
            if not (target / "config.cfg").is_file():
                _save_blank_pipeline(target)
            _prepared.add(target)
        import unstructured.nlp.tokenize as tokenize

        # spacy.load() takes a path as well as a package name; the attribute is read per load.
        setattr(tokenize, "_SPACY_MODEL_NAME", str(target))  # noqa: B010 - declared Final there


def parse_file(path: Path, filename: str, data_dir: Path) -> str:
    """The text of the file stored at ``path`` whose user-facing name is ``filename``.

    The extension of ``filename`` picks the parser. Raises ``ParseError`` naming the file when
    no installed parser reads the extension, the file cannot be read as its type (the parser
    raised a ValueError), or it holds no text.
    """
    extension = Path(filename).suffix.lower().lstrip(".")
    installed = parsers()
    parser = installed.get(extension)
    if parser is None:
        raise ParseError(
            f"{filename}: unsupported file type {('.' + extension) if extension else '(none)'}"
            f"; supported: {', '.join(sorted(installed))}"
        )
    try:
        text = cast(object, parser.parse(path, filename, data_dir))
    except ParseError:
        raise
    except ValueError as exc:  # a plugin's own error for a file it cannot read
        raise ParseError(f"{filename}: parser {parser.name} cannot read it: {exc}") from exc
    if not isinstance(text, str):
        raise ParseError(f"{filename}: parser {parser.name} gave a {type(text).__name__}, not text")
    if not text.strip():
        raise ParseError(f"{filename}: the file contains no text")
    return text


def _parse_text(path: Path, filename: str, data_dir: Path) -> str:
    del data_dir  # decoding keeps nothing on disk
    return decode_text(path.read_bytes(), filename)


def _parse_unstructured(path: Path, filename: str, data_dir: Path) -> str:
    prepare_offline_nlp(data_dir)
    return _partition(path, filename, Path(filename).suffix.lower().lstrip("."))


TEXT_PARSER = Parser("text", tuple(sorted(TEXT_EXTENSIONS)), _parse_text)
UNSTRUCTURED_PARSER = Parser(
    "unstructured", tuple(sorted(UNSTRUCTURED_EXTENSIONS)), _parse_unstructured
)
BUILTIN_PARSERS = (TEXT_PARSER, UNSTRUCTURED_PARSER)


def decode_text(data: bytes, filename: str) -> str:
    """Bytes of a text file as str with ``\\n`` line ends: a BOM's encoding, UTF-8, then the
    encoding charset-normalizer detects, else Latin-1 (which maps every byte)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        if b"\x00" in data[:8192]:
            raise ParseError(f"{filename}: not a text file (it contains NUL bytes)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _decode_detected(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_detected(data: bytes) -> str:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # it comes with requests; Latin-1 still yields readable text
        return data.decode("latin-1")
    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("latin-1")


def _partition(path: Path, filename: str, extension: str) -> str:
    partition = _partitioner(extension)
    try:
        elements = partition(str(path))
    except Exception as exc:  # each library has its own errors for a broken file
        detail = str(exc).replace(str(path), filename)  # the store's path means nothing to users
        raise ParseError(
            f"{filename}: cannot be read as a .{extension} file (corrupt or not that type): "
            f"{type(exc).__name__}: {detail}"
        ) from exc
    if not elements and extension == "pdf":
        _check_pdf(path, filename)  # unstructured returns nothing for a broken PDF
    return "\n\n".join(part for part in map(_element_text, elements) if part)


def _partitioner(extension: str) -> Callable[[str], Sequence[Any]]:
    # Imported here: unstructured takes seconds to import and the API never parses.
    if extension in ("html", "htm"):
        from unstructured.partition.html import partition_html

        return lambda name: partition_html(filename=name)
    if extension == "csv":
        from unstructured.partition.csv import partition_csv

        return lambda name: partition_csv(filename=name)
    if extension == "xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return lambda name: partition_xlsx(filename=name)
    if extension == "docx":
        from unstructured.partition.docx import partition_docx

        return lambda name: partition_docx(filename=name)
    if extension == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return lambda name: partition_pptx(filename=name)
    from unstructured.partition.pdf import partition_pdf

    return lambda name: partition_pdf(filename=name, strategy="fast")


def _element_text(element: Any) -> str:
    table_html = getattr(getattr(element, "metadata", None), "text_as_html", None)
    if isinstance(table_html, str) and table_html:
        rows = _TableRows.of(table_html)
        if rows:
            return "\n".join(TABLE_CELL_SEPARATOR.join(row) for row in rows)
    text = getattr(element, "text", "")
    return text.strip() if isinstance(text, str) else ""


def _check_pdf(path: Path, filename: str) -> None:
    from pypdf import PdfReader

    try:
        pages = len(PdfReader(path, strict=False).pages)
    except Exception as exc:  # pypdf raises more than PyPdfError on mangled files
        raise ParseError(
            f"{filename}: cannot be read as a .pdf file (corrupt or not a PDF): {exc}"
        ) from exc
    raise ParseError(f"{filename}: the PDF's {pages} page(s) contain no extractable text")


class _TableRows(html.parser.HTMLParser):
    """Rows of cell texts out of unstructured's ``text_as_html`` for a table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    @classmethod
    def of(cls, table_html: str) -> list[list[str]]:
        parser = cls()
        parser.feed(table_html)
        parser.close()
        return [row for row in parser.rows if any(row)]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        del attrs
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@functools.cache
def _nlp_folder_name() -> str:
    from importlib.metadata import version

    return f"{_NLP_DIR_NAME}-spacy{version('spacy')}"


def _save_blank_pipeline(target: Path) -> None:
    import spacy

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        nlp.to_disk(scratch)
        try:
            scratch.rename(target)
        except OSError:
            # Another process renamed its copy first; theirs is as good as ours.
            if not (target / "config.cfg").is_file():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)

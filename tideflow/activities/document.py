"""The document-extractor node's activity: text out of file objects.

Extractors are looked up by extension (then by MIME type) in ``EXTRACTORS``; adding a format is
one entry there. Files come from the file store, or through the SSRF guard for remote URLs.
"""

from __future__ import annotations

import asyncio
import csv
import html.parser
import io
import json
import mimetypes
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.files import FileFetchError, read_file_object
from tideflow.activities.heartbeat import attempt, heartbeating, node_attempts
from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.platform.settings import Settings, get_settings

Extractor = Callable[[bytes], str]


class DocumentExtractInput(BaseModel):
    """The files a document-extractor node reads; ``is_list`` when its variable is a file list."""

    node_id: str
    files: list[dict[str, Any]]
    is_list: bool
    # The node's retry_config as attempts (retries + 1; 1 for this node type, which Dify does
    # not retry): its own failures stop there, attempts lost with their worker do not.
    max_attempts: int | None = None
    # The run's workspace: only its stored files are read.
    tenant_id: str = ""


class DocumentExtractResult(BaseModel):
    """``text``: one string for a single file, one per file for a list."""

    text: str | list[str]
    # The activity attempt that produced the text (1 for the first), for the run log.
    attempt: int = 1


class UnsupportedFileTypeError(Exception):
    """No extractor for the file's extension or MIME type."""


def decode_text(content: bytes) -> str:
    """Bytes of a text file → str: UTF-8 (BOM or not), UTF-16 with a BOM, else Latin-1."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so legacy 8-bit files still yield their readable text.
        return content.decode("latin-1")


class _TextOfHtml(html.parser.HTMLParser):
    _SKIPPED = frozenset({"script", "style", "head", "template", "noscript"})
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        del attrs
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skip_depth:
            self._skip_depth -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def extract_html(content: bytes) -> str:
    """The visible text of an HTML page (no tags, scripts or styles)."""
    parser = _TextOfHtml()
    parser.feed(decode_text(content))
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def extract_json(content: bytes) -> str:
    """JSON, pretty-printed (non-ASCII kept as is)."""
    return json.dumps(json.loads(decode_text(content)), indent=2, ensure_ascii=False)


def extract_yaml(content: bytes) -> str:
    """YAML documents, re-dumped in a normal form."""
    documents = list(yaml.safe_load_all(decode_text(content)))
    return yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ").strip()


def extract_csv(content: bytes) -> str:
    """A CSV file as a Markdown table (first row as header), the form LLMs read best."""
    rows = [row for row in csv.reader(io.StringIO(decode_text(content))) if row]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    padded = [[_cell(cell) for cell in row] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(padded[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(row) + " |" for row in padded[1:]]
    return "\n".join(lines)


def extract_pdf(content: bytes) -> str:
    """The text layer of a PDF, page by page (scanned pages without one yield nothing)."""
    # Imported on use: workflow code imports this module for its models only.
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    return "\n\n".join(page.extract_text() or "" for page in reader.pages).strip()


def extract_docx(content: bytes) -> str:
    """A Word document's paragraphs, then its tables as Markdown rows."""
    import docx  # imported on use, like pypdf

    document = docx.Document(io.BytesIO(content))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("| " + " | ".join(_cell(cell.text) for cell in row.cells) + " |")
    return "\n".join(parts).strip()


# Text and markup Dify reads as plain text, then source code (fmt: off keeps them grouped).
# fmt: off
_PLAIN_EXTENSIONS = (
    "txt", "text", "md", "markdown", "mdx", "xml", "rst", "log", "ini", "cfg", "conf", "toml",
    "properties", "env", "tsv", "vtt", "srt",
    "py", "pyi", "js", "mjs", "cjs", "ts", "tsx", "jsx", "java", "kt", "kts", "scala", "go", "rs",
    "rb", "php", "pl", "lua", "r", "swift", "c", "h", "cc", "cpp", "hpp", "cs", "m", "mm", "sh",
    "bash", "zsh", "ps1", "bat", "sql", "css", "scss", "less", "vue", "svelte", "dart", "ex",
    "exs", "erl", "hs", "clj", "groovy", "gradle", "tf", "hcl", "proto", "graphql", "gql",
)
# fmt: on

EXTRACTORS: dict[str, Extractor] = {
    **dict.fromkeys(_PLAIN_EXTENSIONS, decode_text),
    "html": extract_html,
    "htm": extract_html,
    "json": extract_json,
    "yaml": extract_yaml,
    "yml": extract_yaml,
    "csv": extract_csv,
    "pdf": extract_pdf,
    "docx": extract_docx,
}

# MIME types whose extension the mimetypes table does not give, or gives differently.
_MIME_EXTENSIONS = {
    "text/markdown": "md",
    "text/x-markdown": "md",
    "application/x-yaml": "yaml",
    "application/yaml": "yaml",
    "text/yaml": "yaml",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/plain": "txt",
    "application/json": "json",
}


def extractor_for(file: dict[str, Any]) -> Extractor:
    """The extractor for a file object, by extension first, then by MIME type."""
    extension = str(file.get("extension") or "").lower().lstrip(".")
    if not extension:
        filename = str(file.get("filename") or "")
        extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension in EXTRACTORS:
        return EXTRACTORS[extension]
    mime = str(file.get("mime_type") or "").split(";", 1)[0].strip().lower()
    guessed = _MIME_EXTENSIONS.get(mime) or (mimetypes.guess_extension(mime) or "").lstrip(".")
    if guessed in EXTRACTORS:
        return EXTRACTORS[guessed]
    name = file.get("filename") or file.get("id") or "file"
    raise UnsupportedFileTypeError(
        f"cannot extract text from {name!r}: unsupported file type "
        f"(extension {extension or 'none'!r}, MIME type {mime or 'none'!r})"
    )


async def _extract_one(file: dict[str, Any], settings: Settings, tenant_id: str) -> str:
    extractor = extractor_for(file)
    content = await read_file_object(file, settings, tenant_id=tenant_id)
    name = file.get("filename") or file.get("id") or "file"
    try:
        # Parsing (PDFs especially) is CPU work: keep the event loop free for heartbeats.
        return await asyncio.to_thread(extractor, content)
    except Exception as exc:
        raise ApplicationError(
            f"extracting text from {name!r} failed: {exc}",
            type="TextExtractionError",
            non_retryable=True,
        ) from None


def _check_output_size(node_id: str, file: dict[str, Any], texts: list[str], limit: int) -> None:
    """Fail (not retried) when the text extracted so far is over ``limit`` bytes."""
    total = sum(len(text.encode()) for text in texts)
    if total <= limit:
        return
    name = file.get("filename") or file.get("id") or "file"
    size = len(texts[-1].encode())
    what = f"is {size} bytes" if size == total else f"makes {total} bytes with the files before"
    raise ApplicationError(
        f"document-extractor node {node_id}: the text extracted from {name!r} {what}, over "
        f"the limit of {limit} bytes (max_activity_output_bytes)",
        type="DocumentTooLargeError",
        non_retryable=True,
    )


@activity.defn(name="extract_document")
async def extract_document(req: DocumentExtractInput) -> DocumentExtractResult:
    """Extract text from each file; errors name the file (types as in Dify)."""
    with node_attempts(req.max_attempts):
        return await _extract_document(req)


async def _extract_document(req: DocumentExtractInput) -> DocumentExtractResult:
    settings = get_settings()
    if not req.is_list and len(req.files) != 1:
        raise ApplicationError(
            f"document-extractor node {req.node_id}: expected one file, got {len(req.files)}",
            type="DocumentExtractorError",
            non_retryable=True,
        )
    try:
        async with heartbeating():  # downloads and parsing may be slow: let cancellation reach
            texts: list[str] = []
            for file in req.files:
                texts.append(await _extract_one(file, settings, req.tenant_id))
                _check_output_size(req.node_id, file, texts, settings.max_activity_output_bytes)
    except UnsupportedFileTypeError as exc:
        raise ApplicationError(
            str(exc), type="UnsupportedFileTypeError", non_retryable=True
        ) from None
    except SSRFBlockedError as exc:
        raise ApplicationError(str(exc), type="SSRFBlocked", non_retryable=True) from None
    except FileFetchError as exc:
        raise ApplicationError(
            str(exc), type="FileDownloadError", non_retryable=not exc.retryable
        ) from None
    return DocumentExtractResult(text=texts if req.is_list else texts[0], attempt=attempt())

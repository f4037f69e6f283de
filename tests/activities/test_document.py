"""The document-extractor activity on files the tests write: every text format, PDF, DOCX, file
lists, remote URLs through the SSRF guard, and the errors that name the file."""

from __future__ import annotations

import io
import json
from typing import Any

import docx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.activities.support import UseSettings
from tideflow.activities.document import (
    EXTRACTORS,
    DocumentExtractInput,
    DocumentExtractResult,
    extract_document,
)
from tideflow.activities.files import save_file
from tideflow.platform.settings import Settings


@pytest.fixture
def settings(use_settings: UseSettings) -> Settings:
    return use_settings()


def stored(
    settings: Settings, content: bytes, filename: str, mime: str | None = None
) -> dict[str, Any]:
    return save_file(
        content,
        filename=filename,
        mime_type=mime,
        settings=settings,
        tenant_id="",
        transfer_method="local_file",
    )


async def extract(files: list[dict[str, Any]], is_list: bool = False) -> DocumentExtractResult:
    req = DocumentExtractInput(node_id="doc1", files=files, is_list=is_list)
    return await ActivityEnvironment().run(extract_document, req)


async def fails(files: list[dict[str, Any]], is_list: bool = False) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await extract(files, is_list)
    return caught.value


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose text layer says ``text`` (built by hand, offsets and all)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("Quarterly report")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, (("region", "sales"), ("north", "12")), strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("notes.txt", "héllo\nworld".encode(), "héllo\nworld"),
        ("bom.txt", b"\xef\xbb\xbfwith bom", "with bom"),
        ("legacy.txt", "café".encode("latin-1"), "café"),
        ("wide.txt", "ünï".encode("utf-16"), "ünï"),
        ("README.md", b"# Title\n\n- item", "# Title\n\n- item"),
        ("page.mdx", b"<Note>hi</Note>", "<Note>hi</Note>"),
        ("data.xml", b"<a><b>1</b></a>", "<a><b>1</b></a>"),
        ("main.py", b"def f():\n    return 1\n", "def f():\n    return 1\n"),
        ("app.ts", b"const x: number = 1;", "const x: number = 1;"),
    ],
)
async def test_plain_text_formats(
    settings: Settings, filename: str, content: bytes, expected: str
) -> None:
    assert (await extract([stored(settings, content, filename)])).text == expected


async def test_html_keeps_only_visible_text(settings: Settings) -> None:
    page = (
        b"<html><head><title>T</title><style>p{}</style></head><body>"
        b"<h1>Hi &amp; bye</h1><p>one <b>two</b></p><script>x()</script></body></html>"
    )
    assert (await extract([stored(settings, page, "p.html")])).text == "Hi & bye\none two"


async def test_json_yaml_csv(settings: Settings) -> None:
    as_json = await extract([stored(settings, b'{"b":[1,2],"a":"\xc3\xa9"}', "d.json")])
    assert as_json.text == json.dumps({"b": [1, 2], "a": "é"}, indent=2, ensure_ascii=False)
    as_yaml = await extract([stored(settings, b"b: 1\na: [x, y]\n", "c.yml")])
    assert as_yaml.text == "b: 1\na:\n- x\n- y\n"
    table = await extract([stored(settings, b'name,note\nAnn,"a|b"\nBob\n', "t.csv")])
    assert table.text == "| name | note |\n| --- | --- |\n| Ann | a\\|b |\n| Bob |  |"


async def test_pdf_and_docx(settings: Settings) -> None:
    pdf = await extract([stored(settings, pdf_with_text("Hello PDF world"), "r.pdf")])
    assert pdf.text == "Hello PDF world"
    word = await extract([stored(settings, docx_bytes(), "r.docx")])
    assert word.text == "Quarterly report\n| region | sales |\n| north | 12 |"


async def test_mime_type_when_there_is_no_extension(settings: Settings) -> None:
    file = stored(settings, b"# heading", "notes", "text/markdown")
    file["extension"] = ""
    assert (await extract([file])).text == "# heading"


async def test_file_list_gives_a_list(settings: Settings) -> None:
    files = [stored(settings, b"one", "1.txt"), stored(settings, b'{"two": 2}', "2.json")]
    assert (await extract(files, is_list=True)).text == ["one", '{\n  "two": 2\n}']
    assert (await extract([], is_list=True)).text == []


async def test_single_file_variable_needs_one_file(settings: Settings) -> None:
    error = await fails([stored(settings, b"a", "a.txt"), stored(settings, b"b", "b.txt")])
    assert error.type == "DocumentExtractorError" and "doc1" in error.message


async def test_unsupported_type_names_the_file(settings: Settings) -> None:
    error = await fails([stored(settings, b"MZ\x90\x00", "setup.exe", "application/x-msdownload")])
    assert error.type == "UnsupportedFileTypeError" and error.non_retryable
    assert "setup.exe" in error.message and "'exe'" in error.message


async def test_broken_file_is_a_text_extraction_error(settings: Settings) -> None:
    error = await fails([stored(settings, b"{not json", "bad.json")])
    assert error.type == "TextExtractionError" and "bad.json" in error.message


async def test_file_missing_from_store(settings: Settings) -> None:
    del settings
    gone = {
        "transfer_method": "tool_file",
        "related_id": "0123abcd",
        "filename": "gone.txt",
        "extension": ".txt",
    }
    error = await fails([gone])
    assert error.type == "FileDownloadError" and error.non_retryable and "0123abcd" in error.message
    sneaky = {**gone, "related_id": "../../etc/passwd"}
    assert (await fails([sneaky])).type == "FileDownloadError"


async def test_remote_url_through_the_guard(server: str, use_settings: UseSettings) -> None:
    remote = {
        "transfer_method": "remote_url",
        "remote_url": f"{server}/bytes?size=5&fill=x&media_type=text/plain",
        "filename": "x.txt",
        "extension": ".txt",
    }
    use_settings(allow_private_network="true")
    assert (await extract([remote])).text == "xxxxx"
    use_settings(allow_private_network="false")
    error = await fails([remote])
    assert error.type == "SSRFBlocked" and "loopback" in error.message


async def test_remote_url_http_error_and_size_cap(server: str, use_settings: UseSettings) -> None:
    use_settings(allow_private_network="true", file_fetch_max_bytes="1024")
    missing = {
        "transfer_method": "remote_url",
        "remote_url": f"{server}/status/404",
        "filename": "m.txt",
    }
    error = await fails([missing])
    assert error.type == "FileDownloadError" and "HTTP 404" in error.message and error.non_retryable
    big = {**missing, "remote_url": f"{server}/bytes?size=2000"}
    assert "larger than 1024" in (await fails([big])).message


def test_extractor_table_is_open_for_more_formats() -> None:
    assert {"pdf", "docx", "csv", "json", "yaml", "html", "md", "txt", "py"} <= set(EXTRACTORS)

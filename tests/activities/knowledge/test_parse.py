"""parse_file on every supported type, generated here and parsed offline (the session's network
guard refuses any non-loopback connection, so a model download or telemetry ping would fail)."""

from __future__ import annotations

from pathlib import Path

import docx
import openpyxl
import pptx
import pytest

from tideflow.activities.knowledge.parse import (
    SUPPORTED_EXTENSIONS,
    ParseError,
    parse_file,
    prepare_offline_nlp,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF with ``lines`` in Helvetica, cross-reference offsets computed."""
    text = " ".join(f"({line}) Tj T*" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td 14 TL {text} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets: list[int] = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    return out + f"startxref\n{xref}\n%%EOF\n".encode()


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_supported_extensions_cover_the_required_types() -> None:
    assert {"txt", "md", "html", "csv", "xlsx", "docx", "pptx", "pdf"} <= SUPPORTED_EXTENSIONS


def test_txt_is_decoded_as_is_with_unix_line_ends(tmp_path: Path, data_dir: Path) -> None:
    raw = "\ufeffThe lighthouse keeper wrote daily.\r\n\r\nTabs\tstay.\r\nLast line.\r"
    path = _write(tmp_path, "notes.txt", raw.encode("utf-8"))
    text = parse_file(path, "notes.txt", data_dir)
    assert text == "The lighthouse keeper wrote daily.\n\nTabs\tstay.\nLast line.\n"


def test_txt_in_legacy_encodings(tmp_path: Path, data_dir: Path) -> None:
    # Detection needs a few sentences; a lone short line may be taken for cp1250.
    french = (
        "Le café crème coûte trois euros à Noël. Nous étions très contents de goûter la bûche"
        " préparée par notre grand-mère, près de la fenêtre où la neige tombait doucement."
    )
    cp1252 = _write(tmp_path, "a.txt", french.encode("cp1252"))
    assert parse_file(cp1252, "a.txt", data_dir) == french
    utf16 = _write(tmp_path, "b.txt", "Grüße aus Köln.".encode("utf-16"))
    assert parse_file(utf16, "b.txt", data_dir) == "Grüße aus Köln."


def test_markdown_keeps_its_markup(tmp_path: Path, data_dir: Path) -> None:
    source = "# Harbour guide\n\nBoats leave at *nine*.\n\n- [Map](https://example.com/map)\n"
    path = _write(tmp_path, "guide.md", source)
    assert parse_file(path, "guide.md", data_dir) == source


def test_html_text_and_table_rows(tmp_path: Path, data_dir: Path) -> None:
    path = _write(
        tmp_path,
        "page.html",
        "<html><head><script>var hidden = 1;</script></head><body><h1>Tide tables</h1>"
        "<p>The moon pulls the sea twice a day.</p><table><tr><th>Port</th><th>High</th></tr>"
        "<tr><td>Brest</td><td>06:12</td></tr></table></body></html>",
    )
    text = parse_file(path, "page.html", data_dir)
    assert (
        text == "Tide tables\n\nThe moon pulls the sea twice a day.\n\nPort | High\nBrest | 06:12"
    )


def test_csv_rows(tmp_path: Path, data_dir: Path) -> None:
    path = _write(tmp_path, "people.csv", "name,city\nAlice,Paris\nBob,Lima\n")
    assert parse_file(path, "people.csv", data_dir) == "name | city\nAlice | Paris\nBob | Lima"


def test_xlsx_sheets(tmp_path: Path, data_dir: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Fruit", "Price"])
    sheet.append(["Apple", 3])
    workbook.create_sheet("Notes").append(["The orchard opens at dawn."])
    workbook.save(tmp_path / "prices.xlsx")
    text = parse_file(tmp_path / "prices.xlsx", "prices.xlsx", data_dir)
    assert "Fruit | Price\nApple | 3" in text
    assert "The orchard opens at dawn." in text


def test_docx_paragraphs_and_table(tmp_path: Path, data_dir: Path) -> None:
    document = docx.Document()
    document.add_heading("Quarterly report", 1)
    document.add_paragraph("The harbor freezes every January.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), value in {
        (0, 0): "Ship",
        (0, 1): "Tons",
        (1, 0): "Aurora",
        (1, 1): "120",
    }.items():
        table.cell(row, col).text = value
    # Stored under an id without extension, as the file store does: the user's name decides.
    document.save(str(tmp_path / "upload-1"))
    text = parse_file(tmp_path / "upload-1", "Report.DOCX", data_dir)
    assert text == (
        "Quarterly report\n\nThe harbor freezes every January.\n\nShip | Tons\nAurora | 120"
    )


def test_pptx_slides(tmp_path: Path, data_dir: Path) -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    title = slide.shapes.title
    assert title is not None
    title.text = "Launch plan"
    slide.placeholders[1].text = "Rockets need fuel before noon."  # pyright: ignore[reportAttributeAccessIssue]
    deck.save(str(tmp_path / "deck.pptx"))
    text = parse_file(tmp_path / "deck.pptx", "deck.pptx", data_dir)
    assert text == "Launch plan\n\nRockets need fuel before noon."


def test_pdf_fast_strategy(tmp_path: Path, data_dir: Path) -> None:
    path = _write(tmp_path, "g.pdf", _pdf(["Glaciers carve valleys slowly.", "Ice remembers."]))
    text = parse_file(path, "glaciers.pdf", data_dir)
    assert "Glaciers carve valleys slowly." in text
    assert "Ice remembers." in text


def test_unsupported_extension_names_the_file(tmp_path: Path, data_dir: Path) -> None:
    path = _write(tmp_path, "x.exe", b"MZ")
    with pytest.raises(ParseError, match=r"^tool\.exe: unsupported file type \.exe"):
        parse_file(path, "tool.exe", data_dir)
    with pytest.raises(ParseError, match=r"^README: unsupported file type \(none\)"):
        parse_file(path, "README", data_dir)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.docx", b"this is not a zip file at all"),
        ("broken.pptx", b"PK\x03\x04 truncated"),
        ("broken.xlsx", b"PK\x03\x04 truncated"),
        ("broken.pdf", b"%PDF-1.4\ngarbage garbage\n"),
        ("broken2.pdf", b"nothing like a pdf"),
    ],
)
def test_corrupt_file_names_the_file(
    tmp_path: Path, data_dir: Path, name: str, content: bytes
) -> None:
    path = _write(tmp_path, "stored", content)
    extension = name.rsplit(".", 1)[1]
    with pytest.raises(
        ParseError, match=rf"^{name}: cannot be read as a \.{extension} file"
    ) as err:
        parse_file(path, name, data_dir)
    assert str(path) not in str(err.value)  # the file store's path is no business of users


def test_no_text_is_an_error(tmp_path: Path, data_dir: Path) -> None:
    empty = _write(tmp_path, "empty.html", "<html><body><img src='a.png'></body></html>")
    with pytest.raises(ParseError, match=r"^empty\.html: the file contains no text"):
        parse_file(empty, "empty.html", data_dir)
    blank = _write(tmp_path, "blank.txt", " \n\n\t")
    with pytest.raises(ParseError, match=r"^blank\.txt: the file contains no text"):
        parse_file(blank, "blank.txt", data_dir)
    pageless = _write(tmp_path, "blank.pdf", _pdf([]))
    with pytest.raises(ParseError, match=r"^blank\.pdf: the PDF's 1 page\(s\) contain no"):
        parse_file(pageless, "blank.pdf", data_dir)


def test_binary_named_txt_is_refused(tmp_path: Path, data_dir: Path) -> None:
    path = _write(tmp_path, "x", b"\x7fELF\x00\x00\x01binary")
    with pytest.raises(ParseError, match=r"^x\.txt: not a text file"):
        parse_file(path, "x.txt", data_dir)


def test_offline_nlp_is_saved_once_and_used(tmp_path: Path) -> None:
    import unstructured.nlp.tokenize as tokenize

    prepare_offline_nlp(tmp_path)
    (saved,) = (tmp_path / "nlp").iterdir()
    assert (saved / "config.cfg").is_file()
    assert str(saved) == tokenize._SPACY_MODEL_NAME  # pyright: ignore[reportPrivateUsage]
    stamp = (saved / "config.cfg").stat().st_mtime_ns
    prepare_offline_nlp(tmp_path)
    assert [p.name for p in (tmp_path / "nlp").iterdir()] == [saved.name]
    assert (saved / "config.cfg").stat().st_mtime_ns == stamp


def test_offline_nlp_survives_another_process_winning_the_rename(tmp_path: Path) -> None:
    from tideflow.activities.knowledge import parse

    target = tmp_path / "nlp" / "pipeline"
    parse._save_blank_pipeline(target)  # pyright: ignore[reportPrivateUsage]
    parse._save_blank_pipeline(target)  # pyright: ignore[reportPrivateUsage]  # loses, no error
    assert [p.name for p in target.parent.iterdir()] == ["pipeline"]
    assert (target / "config.cfg").is_file()

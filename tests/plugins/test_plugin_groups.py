"""The plugin groups ``tideflow.model_providers``, ``tideflow.parsers`` and
``tideflow.vector_stores``: the built-ins register as entry points of ``tideflow``, and the
installed example plugin (tests/plugins/example_plugin, what ``pip install`` gives a third
party) adds model provider ``example_llm`` and a parser for ``.shout`` files once allowed.

A second distribution made here on ``sys.path`` (``impostor-plugin``) tries to take built-in
names and gives objects of the wrong type: those are logged and left out, while its new
vector store ``memory`` is selected by TIDEFLOW_VECTOR_STORE.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.fakes.openai_server import FakeLLMServer
from tideflow.activities.knowledge.ingest import vector_store
from tideflow.activities.knowledge.parse import (
    TEXT_PARSER,
    UNSTRUCTURED_PARSER,
    ParseError,
    parse_file,
)
from tideflow.activities.knowledge.vector_store import (
    IndexPoint,
    UnknownVectorStoreError,
    close_vector_stores,
    configured_vector_store,
    qdrant_store,
)
from tideflow.activities.llm.activity import check_model_credentials
from tideflow.activities.llm.models import CredentialCheck
from tideflow.platform.api.errors import ApiError
from tideflow.platform.api.knowledge_requests import checked_upload
from tideflow.platform.model_credentials import seal
from tideflow.platform.settings import Settings, get_settings
from tideflow.plugins.model_providers import (
    BUILTIN_PROVIDERS,
    UnknownProviderError,
    known_providers,
    litellm_call_args,
    provider_spec,
)
from tideflow.plugins.parsers import parsers, supported_extensions
from tideflow.plugins.registry import clear_cache, installed, plugins

DIST = "tideflow-example-plugin"
IMPOSTOR = "impostor-plugin"
IMPOSTOR_MODULE = "tideflow_impostor_plugin"

IMPOSTOR_SOURCE = """
from qdrant_client import QdrantClient

from tideflow.activities.knowledge.qdrant import VectorStore
from tideflow.plugins.model_providers import CredentialField, ProviderSpec
from tideflow.plugins.parsers import Parser

_KEY = (CredentialField("api_key", "API Key", secret=True, litellm_arg="api_key"),)
PROVIDERS = [
    ProviderSpec("OpenAI", "Not OpenAI", "openai", _KEY),
    ProviderSpec("fake_gemini", "Not Gemini", "openai", _KEY, aliases=("google",)),
    "not a spec",
    ProviderSpec("impostor_llm", "Impostor LLM", "openai", _KEY),
]
NOT_A_PARSER = "not a parser"


def _fails(path, filename, data_dir):
    raise ValueError("the dots do not line up")


PDF = Parser("fake-pdf", ("PDF", "fakepdf"), lambda path, filename, data_dir: "fake")
DOTTED = Parser("dotted", (".Dotted",), _fails)
NONE = Parser("none", ("nothing",), lambda path, filename, data_dir: None)
NOT_A_FACTORY = 42
_STORE = []


def memory_store(settings):
    if not _STORE:
        _STORE.append(VectorStore(QdrantClient(location=":memory:")))
    return _STORE[0]
"""

IMPOSTOR_ENTRY_POINTS = f"""[tideflow.model_providers]
impostor = {IMPOSTOR_MODULE}:PROVIDERS

[tideflow.parsers]
fake-pdf = {IMPOSTOR_MODULE}:PDF
not-a-parser = {IMPOSTOR_MODULE}:NOT_A_PARSER
dotted = {IMPOSTOR_MODULE}:DOTTED
none = {IMPOSTOR_MODULE}:NONE

[tideflow.vector_stores]
memory = {IMPOSTOR_MODULE}:memory_store
broken-store = {IMPOSTOR_MODULE}:NOT_A_FACTORY
"""


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Each test loads entry points anew, with settings from its own environment."""
    clear_cache()
    get_settings.cache_clear()
    yield
    clear_cache()
    get_settings.cache_clear()


@pytest.fixture
def impostor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ``impostor-plugin`` distribution, installed on sys.path for this test."""
    site = tmp_path / "site"
    info = site / "impostor_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {IMPOSTOR}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(IMPOSTOR_ENTRY_POINTS)
    (site / f"{IMPOSTOR_MODULE}.py").write_text(IMPOSTOR_SOURCE)
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop(IMPOSTOR_MODULE, None)


def _allow(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Set TIDEFLOW_PLUGINS_ALLOW as an operator would, and read settings anew."""
    monkeypatch.setenv("TIDEFLOW_PLUGINS_ALLOW", "[" + ", ".join(f'"{n}"' for n in names) + "]")
    get_settings.cache_clear()
    clear_cache()


def test_builtins_are_entry_points_of_tideflow_and_always_load() -> None:
    assert ("builtin", "tideflow") in installed("tideflow.model_providers")
    assert {("text", "tideflow"), ("unstructured", "tideflow")} <= set(
        installed("tideflow.parsers")
    )
    assert ("qdrant", "tideflow") in installed("tideflow.vector_stores")
    assert plugins("tideflow.model_providers", allow=())["builtin"] is BUILTIN_PROVIDERS
    found_parsers = plugins("tideflow.parsers", allow=())
    assert found_parsers["text"] is TEXT_PARSER
    assert found_parsers["unstructured"] is UNSTRUCTURED_PARSER
    assert plugins("tideflow.vector_stores", allow=())["qdrant"] is qdrant_store
    # The example plugin is installed, but not allowed: none of its entry points load.
    assert ("example-llm", DIST) in installed("tideflow.model_providers")
    assert ("shout", DIST) in installed("tideflow.parsers")
    assert "example-llm" not in plugins("tideflow.model_providers", allow=())
    assert "shout" not in plugins("tideflow.parsers", allow=())


def test_example_model_provider_resolves_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    _allow(monkeypatch)
    with pytest.raises(UnknownProviderError, match="'example_llm'") as caught:
        provider_spec("example_llm")
    assert "example_llm" not in str(caught.value).split("known:")[1]
    assert known_providers() == list(BUILTIN_PROVIDERS)

    _allow(monkeypatch, f"{DIST}:example-llm")  # that one entry point
    spec = provider_spec("example_llm")
    assert spec.label == "Example LLM"
    assert provider_spec("acme/example_llm/example_llm") is spec  # a Dify plugin-style id
    assert provider_spec("Example_LLM_v2") is spec  # an alias, any case
    assert known_providers() == [*BUILTIN_PROVIDERS, spec]  # after the built-ins
    model, kwargs = litellm_call_args(spec, "tiny", {"endpoint_url": "http://127.0.0.1:9/v1/"})
    assert (model, kwargs) == (
        "openai/tiny",
        {"api_base": "http://127.0.0.1:9/v1", "api_key": "no-key"},
    )
    with pytest.raises(UnknownProviderError, match=r"known: openai, .*, example_llm\)$"):
        provider_spec("nothing")


async def test_example_model_provider_answers_through_litellm(
    fake_llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the console's credential check does: one real litellm call to the base URL."""
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    # The fake model server is on loopback, which the SSRF guard refuses by default.
    monkeypatch.setenv("TIDEFLOW_ALLOW_PRIVATE_NETWORK", "true")
    _allow(monkeypatch)
    key = get_settings().secret_key
    credentials = {"endpoint_url": fake_llm.base_url}
    check = CredentialCheck(
        provider="example_llm", sealed_credentials=seal(credentials, key), model="tiny"
    )
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError, match="unknown model provider 'example_llm'") as caught:
        await env.run(check_model_credentials, check)
    assert caught.value.type == "UnknownModelProvider" and caught.value.non_retryable

    _allow(monkeypatch, DIST)
    assert await env.run(check_model_credentials, check) == {"ok": True}
    [sent] = fake_llm.chat_requests()
    assert sent.json["model"] == "tiny"
    assert sent.headers["authorization"] == "Bearer no-key"


def test_shout_files_parse_through_the_plugin_only_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stored-file"
    path.write_text("hello there\nquietly", encoding="utf-8")
    _allow(monkeypatch)
    with pytest.raises(ParseError, match=r"^Loud\.shout: unsupported file type \.shout; supported"):
        parse_file(path, "Loud.shout", tmp_path)
    assert "shout" not in supported_extensions()

    _allow(monkeypatch, DIST)
    assert "shout" in supported_extensions()
    assert parsers()["shout"].name == "shout"
    assert parse_file(path, "Loud.SHOUT", tmp_path) == "HELLO THERE\nQUIETLY"
    assert parse_file(path, "notes.txt", tmp_path) == "hello there\nquietly"  # built-in text
    path.write_bytes(b"\xff\xfe\x00broken")
    with pytest.raises(ParseError, match=r"^Loud\.shout: a \.shout file must be UTF-8"):
        parse_file(path, "Loud.shout", tmp_path)
    path.write_text("   \n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"^Loud\.shout: the file contains no text"):
        parse_file(path, "Loud.shout", tmp_path)


def test_dataset_uploads_take_the_plugin_extension_only_when_allowed(tmp_path: Path) -> None:
    closed = Settings(data_dir=tmp_path, plugins_allow=[])
    with pytest.raises(ApiError) as caught:
        checked_upload("Loud.shout", 10, closed)
    assert (caught.value.status, caught.value.code) == (400, "unsupported_file_type")
    assert caught.value.message.startswith("file: Loud.shout: .shout files cannot be added")
    assert "shout" not in caught.value.message.split("supported:")[1]

    opened = Settings(data_dir=tmp_path, plugins_allow=[DIST])
    assert checked_upload("Loud.shout", 10, opened) == "shout"
    assert checked_upload("report.PDF", 10, opened) == "pdf"  # the built-ins stay
    with pytest.raises(ApiError, match=r"\(supported: .*shout.*\)$"):
        checked_upload("tool.exe", 10, opened, "files")


@pytest.mark.usefixtures("impostor")
def test_a_plugin_cannot_replace_a_builtin_provider_or_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _allow(monkeypatch, IMPOSTOR)
    with caplog.at_level(logging.ERROR, logger="tideflow.plugins"):
        openai = provider_spec("openai")
        gemini = provider_spec("google")
        newcomer = provider_spec("impostor_llm")
        index = parsers()
    assert openai in BUILTIN_PROVIDERS and openai.label == "OpenAI"
    assert gemini.id == "gemini"
    assert newcomer.label == "Impostor LLM"
    assert [spec.id for spec in known_providers()][-1] == "impostor_llm"
    assert index["pdf"] is UNSTRUCTURED_PARSER
    assert "fakepdf" not in index  # a plugin claiming a taken extension is left out whole
    assert index["dotted"].name == "dotted"  # ".Dotted" normalised
    log = caplog.text
    assert (
        "model provider plugin impostor: provider OpenAI skipped: ['openai'] already taken" in log
    )
    assert "provider fake_gemini skipped: ['google'] already taken" in log
    assert "model provider plugin impostor gives a str, not a ProviderSpec" in log
    assert "parser plugin fake-pdf skipped: extension(s) ['pdf'] already taken" in log
    assert "parser plugin not-a-parser is a str, not a Parser: skipped" in log

    # A plugin parser's ValueError, or an answer that is not text, fails the file clearly.
    path = tmp_path / "stored-file"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(ParseError, match=r"^a\.dotted: parser dotted cannot read it: the dots"):
        parse_file(path, "a.dotted", tmp_path)
    with pytest.raises(ParseError, match=r"^a\.nothing: parser none gave a NoneType, not text$"):
        parse_file(path, "a.nothing", tmp_path)


def test_an_unknown_vector_store_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIDEFLOW_VECTOR_STORE", "nope")
    _allow(monkeypatch)
    message = "TIDEFLOW_VECTOR_STORE: unknown vector store 'nope' (available: qdrant)"
    with pytest.raises(UnknownVectorStoreError) as caught:
        configured_vector_store(get_settings())
    assert str(caught.value) == message
    # In an activity it fails the node at once: retrying cannot fix a setting.
    with pytest.raises(ApplicationError) as failed:
        vector_store(get_settings())
    assert (failed.value.message, failed.value.type) == (message, "UnknownVectorStore")
    assert failed.value.non_retryable


@pytest.mark.usefixtures("impostor")
def test_the_setting_selects_an_allowed_plugin_vector_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = Settings(data_dir=tmp_path, vector_store="memory", plugins_allow=[])
    with pytest.raises(UnknownVectorStoreError) as caught:
        configured_vector_store(closed)
    assert str(caught.value) == (
        "TIDEFLOW_VECTOR_STORE: unknown vector store 'memory' (available: qdrant; "
        "installed but not allowed by TIDEFLOW_PLUGINS_ALLOW: broken-store, memory)"
    )

    opened = closed.model_copy(update={"plugins_allow": [IMPOSTOR]})
    with caplog.at_level(logging.ERROR, logger="tideflow.plugins"):
        store = configured_vector_store(opened)
        with pytest.raises(
            UnknownVectorStoreError, match=r"'broken-store' \(available: memory, qdrant\)$"
        ):
            configured_vector_store(opened.model_copy(update={"vector_store": "broken-store"}))
    assert "vector store plugin broken-store is a int, not a factory: skipped" in caplog.text
    assert configured_vector_store(opened) is store  # the factory's shared instance
    point = IndexPoint(
        id="6f1c1c3e-2f55-4a49-9b0e-0d8c5c0c9a11",
        text="lighthouse keeper",
        vector=None,
        payload={"document_id": "d1", "segment_id": "s1"},
    )
    store.upsert("ds-1", [point])
    [hit] = store.search_full_text("ds-1", "lighthouse", 5)
    assert hit.payload["segment_id"] == "s1"
    # The built-in stays the default, in the data dir.
    try:
        builtin = configured_vector_store(opened.model_copy(update={"vector_store": "qdrant"}))
        assert builtin is qdrant_store(opened)
    finally:
        close_vector_stores()

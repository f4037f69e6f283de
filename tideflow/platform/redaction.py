"""Secrets never reach a log line: known secret values and credential-shaped text are masked.

``install_redaction`` does two things, so that no logger escapes however logging is set up:
a record factory (process-wide, so uvicorn's and Temporal's loggers with handlers of their own
are covered, and handlers added later too) masks each record's message and traceback as it is
made; a filter on the handlers masks what a formatter may add from ``extra`` fields. Masking
happens before formatting, so a JSON formatter (telemetry) sees only masked text.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, cast

from tideflow.platform.settings import Settings, get_settings

MASK = "******"
# Shorter values would mask ordinary words and numbers.
_MIN_SECRET_LEN = 6
# How many decrypted values one process keeps masking (the settings' own are always kept).
_MAX_REMEMBERED = 1024
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer xyz / Proxy-Authorization: Basic xyz / "authorization": "xyz"
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
            r"((?:bearer|basic|token)\s+)?[^\s\"',;}]+"
        ),
        rf"\1\2{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MASK}"),
    # api_key=..., "password": "...", client_secret: ..., access_token=...
    (
        re.compile(
            r"(?i)\b((?:[\w-]*[_-])?(?:api[_-]?key|apikey|access[_-]?token|refresh[_-]?token"
            r"|secret|password|passwd|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        rf"\1{MASK}",
    ),
    # Provider keys (OpenAI/Anthropic sk-...), and Tideflow's own app-/dataset- API keys.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), f"sk-{MASK}"),
    (re.compile(r"\b(app|dataset)-[A-Za-z0-9]{24}\b"), rf"\1-{MASK}"),
    # Passwords in URLs: scheme://user:password@host
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), rf"\1{MASK}@"),
)


class SecretRedactor(logging.Filter):
    """Masks known secret values and credential patterns in log records (also a filter)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        super().__init__()
        self._values: tuple[str, ...] = ()
        # Most recently seen last; the oldest go beyond _MAX_REMEMBERED (a worker decrypts
        # every tenant's secrets over its life: memory and per-record cost stay bounded).
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._pinned: set[str] = set()
        self._lock = threading.Lock()
        self.add_values(values, pinned=True)

    def add_values(self, values: Iterable[str], *, pinned: bool = False) -> None:
        """Mask these values too (longest first, so one secret inside another goes whole);
        ``pinned`` ones (the settings' secrets) are never forgotten."""
        fresh = [v for v in values if len(v) >= _MIN_SECRET_LEN]
        with self._lock:
            changed = False
            if pinned:
                changed = not self._pinned.issuperset(fresh)
                self._pinned.update(fresh)
                fresh = []
            for value in fresh:
                if value in self._recent:
                    self._recent.move_to_end(value)
                else:
                    self._recent[value] = None
                    changed = True
            while len(self._recent) > _MAX_REMEMBERED:
                self._recent.popitem(last=False)
                changed = True
            if changed:  # the common case, a model call's known key, rebuilds nothing
                known = self._pinned.union(self._recent)
                self._values = tuple(sorted(known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every known secret and credential pattern masked."""
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_record(self, record: logging.LogRecord) -> None:
        """Mask the record's message, traceback and string extras, in place."""
        if not getattr(record, "_tideflow_redacted", False):
            try:
                self._redact_message(record)
            except Exception:  # a bad %-format: logging reports it when it formats
                return
            if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
                text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
                record.exc_text = self.redact(text)
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
            record._tideflow_redacted = True  # pyright: ignore[reportAttributeAccessIssue]
        # ``extra`` fields are set after the factory made the record: the filter sees them.
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, self.redact(value))

    def _redact_message(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        masked = self.redact(message)
        if masked == message:
            return  # the common case: the record is left exactly as it was
        # Keep the template and its arguments when masking them one by one is enough:
        # formatters such as uvicorn's access log read ``record.args``.
        args = record.args
        if isinstance(record.msg, str) and isinstance(args, tuple) and args:
            pieces = tuple(self.redact(a) if isinstance(a, str) else a for a in args)
            template = self.redact(record.msg)
            try:
                again = template % pieces
            except (TypeError, ValueError):  # masking ate a placeholder
                again = None
            if again is not None and self.redact(again) == again:
                record.msg, record.args = template, pieces
                return
        record.msg, record.args = masked, ()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record and let it through."""
        self.redact_record(record)
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "_tideflow_redacted",
}


def settings_secrets(settings: Settings) -> list[str]:
    """The secret values among the settings."""
    values = [settings.secret_key, *settings.secret_key_previous]
    for value in (settings.model_gateway_key, settings.qdrant_api_key, settings.owner_password):
        if value:
            values.append(value)
    if settings.database_url:
        from sqlalchemy.engine import make_url

        password = make_url(settings.database_url).password
        if password:
            values.append(str(password))
    return values


_installed: dict[str, Any] = {}


def install_redaction(
    target: logging.Logger | None = None, settings: Settings | None = None
) -> SecretRedactor:
    """Mask secrets in every log record of this process from now on (see the module doc);
    ``target`` (default: the root logger, meaning every logger's handlers) also gets the
    filter on its handlers. Safe to call more than once: one redactor per process."""
    redactor: SecretRedactor | None = _installed.get("redactor")
    if redactor is None:
        redactor = _installed["redactor"] = SecretRedactor()
    # Wrapped again only if something replaced the factory since (a test restoring it).
    if logging.getLogRecordFactory() is not _installed.get("factory"):
        _installed["factory"] = _wrap_record_factory(redactor)
    redactor.add_values(settings_secrets(settings or get_settings()), pinned=True)
    for handler in _handlers(target or logging.getLogger()):
        if redactor not in handler.filters:
            handler.addFilter(redactor)
    return redactor


_SECRET_FIELD = re.compile(r"(?i)(key|secret|token|password|passwd|credential)")


def remember_secret(clear: str) -> None:
    """Mask a value this process has just decrypted (``security.decrypt_secret`` calls this),
    once ``install_redaction`` has run: an env secret as a whole, a credentials object by its
    secret-looking fields (an ``api_base`` URL stays readable)."""
    redactor: SecretRedactor | None = _installed.get("redactor")
    if redactor is None:
        return
    values = [clear]
    if clear.startswith("{"):
        try:
            parsed: object = json.loads(clear)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            items = cast(dict[str, object], parsed).items()
            values = [v for k, v in items if isinstance(v, str) and _SECRET_FIELD.search(k)]
    redactor.add_values(values)


def _wrap_record_factory(redactor: SecretRedactor) -> Callable[..., logging.LogRecord]:
    make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redactor.redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    return redacting_factory


def _handlers(target: logging.Logger) -> list[logging.Handler]:
    if target is not logging.getLogger():
        return list(target.handlers)
    loggers = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [handler for lg in loggers for handler in lg.handlers]

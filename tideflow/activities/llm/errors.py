"""litellm's exceptions as the ApplicationErrors a node fails (or is retried) with.

Two families: the call itself is wrong (bad key, too long a prompt, unknown model, bad
parameter), which no retry fixes, so it is non-retryable whatever the node's retry_config; and
the provider is struggling (rate limit, timeout, 5xx, network), which Temporal retries, after
the delay the provider asked for when it named one. Messages name the provider and the model.
"""

from __future__ import annotations

import email.utils
import re
import time
from datetime import timedelta
from typing import Any

from litellm import exceptions as llm_errors
from temporalio.exceptions import ApplicationError

# (litellm class, our error type, what went wrong, retryable), most specific first.
_MAPPING: tuple[tuple[type[Exception], str, str, bool], ...] = (
    (llm_errors.ContextWindowExceededError, "ModelContextLengthError", "prompt too long", False),
    (llm_errors.RateLimitError, "ModelRateLimited", "rate limited", True),
    (llm_errors.AuthenticationError, "ModelAuthenticationError", "authentication failed", False),
    (llm_errors.PermissionDeniedError, "ModelAuthenticationError", "permission denied", False),
    (llm_errors.NotFoundError, "ModelBadRequest", "not found", False),
    (llm_errors.UnsupportedParamsError, "ModelBadRequest", "unsupported parameter", False),
    (llm_errors.BadRequestError, "ModelBadRequest", "bad request", False),
    (llm_errors.UnprocessableEntityError, "ModelBadRequest", "bad request", False),
    (llm_errors.Timeout, "ModelServerError", "timed out", True),
    (llm_errors.APIConnectionError, "ModelServerError", "connection failed", True),
)

_PREFIXES = re.compile(r"^(?:litellm\.\w+:\s*|\w+Error:\s*|\w*Exception\s*-\s*)+")


def plain_message(exc: BaseException) -> str:
    """The provider's own words, without litellm's ``litellm.XError: XException -`` prefixes."""
    message = str(getattr(exc, "message", "") or exc or type(exc).__name__)
    return _PREFIXES.sub("", message).strip() or type(exc).__name__


def retry_after_seconds(exc: BaseException, now: float | None = None) -> float | None:
    """The delay a 429 asks for (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if not headers:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def model_error(exc: Exception, provider: str, model: str) -> ApplicationError:
    """The ApplicationError for a failed call of ``model`` at ``provider``."""
    where = f"{provider} model {model}"
    for cls, error_type, what, retryable in _MAPPING:
        if isinstance(exc, cls):
            delay = retry_after_seconds(exc) if error_type == "ModelRateLimited" else None
            return ApplicationError(
                f"{where}: {what}: {plain_message(exc)}",
                type=error_type,
                non_retryable=not retryable,
                next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
            )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409):
        return ApplicationError(
            f"{where}: HTTP {status}: {plain_message(exc)}",
            type="ModelBadRequest",
            non_retryable=True,
        )
    # 5xx, service unavailable and anything unexpected from the provider: worth another try.
    return ApplicationError(f"{where}: {plain_message(exc)}", type="ModelServerError")

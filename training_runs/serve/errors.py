"""Errors of the multi-LoRA server; each carries the HTTP status and OpenAI-style type it maps to.

They subclass ``ValueError`` so the ``advisor`` CLI prints them as one line, and the HTTP layer turns
them into ``{"error": {"message", "type", "param", "code"}}`` with ``status`` as the response code.
"""
from __future__ import annotations


class ServeError(ValueError):
    """Base class: a request or a configuration the server cannot serve; the message says why."""

    status: int = 400
    error_type: str = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequestError(ServeError):
    """The request body is malformed or a field is out of range (HTTP 400)."""


class InvalidAdapterNameError(ServeError):
    """An adapter name that is not a plain directory name (path separators, '..', odd characters)."""

    code = "invalid_model_name"


class AdapterNotFoundError(ServeError):
    """No adapter of that name in the adapters directory (HTTP 404, like OpenAI's unknown model)."""

    status = 404
    code = "model_not_found"


class AdapterFormatError(ServeError):
    """The adapter directory exists but is not a LoRA adapter this server can apply (HTTP 422)."""

    status = 422
    code = "unsupported_adapter"


class AdapterOutputError(AdapterFormatError):
    """An adapter whose weights are finite made the model compute NaN or infinity for a prompt (HTTP 422)."""

    code = "adapter_non_finite_output"


class AdapterLoadTimeoutError(ServeError):
    """Reading an adapter from disk took longer than the engine's load time limit (HTTP 503)."""

    status = 503
    error_type = "server_error"
    code = "adapter_load_timeout"


class AdapterTooLargeError(ServeError):
    """One adapter alone is larger than the adapter memory budget (HTTP 507)."""

    status = 507
    error_type = "server_error"
    code = "adapter_exceeds_memory_budget"


class PromptTooLongError(ServeError):
    """The prompt (plus max_tokens) does not fit the server's limits (HTTP 400)."""

    code = "context_length_exceeded"


class ServerBusyError(ServeError):
    """The server already holds its limit of concurrent requests (HTTP 429)."""

    status = 429
    error_type = "rate_limit_error"
    code = "too_many_requests"


class TooManyPromptsError(ServeError):
    """One request holds more prompts than the server ever runs at once, so it can never be admitted (HTTP 422)."""

    status = 422
    code = "too_many_prompts"


class RequestTooLargeError(ServeError):
    """The request body is larger than the configured limit (HTTP 413)."""

    status = 413
    code = "request_too_large"


class AuthenticationError(ServeError):
    """Missing or wrong bearer token (HTTP 401)."""

    status = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class ModelOutputError(ServeError):
    """The base model itself computed NaN or infinity for a prompt (HTTP 500: the server's model is at fault)."""

    status = 500
    error_type = "server_error"
    code = "non_finite_output"


class UnsupportedModelError(ServeError):
    """The base model's architecture is not one the built-in engine implements."""

    status = 500
    error_type = "server_error"


class EngineStoppedError(ServeError):
    """The engine was shut down (or crashed) while the request was waiting (HTTP 503)."""

    status = 503
    error_type = "server_error"
    code = "engine_stopped"

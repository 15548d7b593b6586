"""Request bodies of both APIs, as pydantic models (they also document the OpenAPI schema).

The OpenAI models accept and ignore fields we do not use (``tools``, ``n``,
``user``...), as clients send them routinely. Multimodal content parts are
flattened to their text. The native models follow the ``routeplex`` 1.0.0
SDK; ``mode`` and ``strategy`` are plain strings checked by the routes, so an
unknown value gets the SDK's specific error code rather than a generic one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from providers.base import Message

REQUEST_ID_PATTERN = r"^req_[0-9a-f]{32}$"
_MAX_CONTENT_CHARS = 2_000_000


def _encodable(text: str) -> str:
    # JSON may escape lone surrogates ("\ud800"); they cannot be re-encoded for the upstream.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]


class ContentPart(BaseModel):
    """One part of an OpenAI multimodal message; only ``text`` parts are routed."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: Text | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = Field(default=None)

    def to_message(self) -> Message:
        """The provider-level message: ``developer`` is a system prompt, parts are joined."""
        role = "system" if self.role == "developer" else self.role
        if isinstance(self.content, list):
            text = "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        else:
            text = self.content or ""
        return Message(role=role, content=text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: ``model`` ``auto`` (or ``routeplex-ai``) routes."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(default="auto", max_length=200)
    messages: list[OpenAIMessage] = Field(max_length=10_000)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream_options: StreamOptions | None = None

    def unsupported(self) -> list[str]:
        """Fields asking for what autoroute cannot do yet; silently ignoring them
        would hand the client a plain-text answer it did not ask for."""
        extra = self.model_extra or {}
        asked = [name for name in ("tools", "functions") if extra.get(name)]
        if extra.get("n") not in (None, 1):
            asked.append("n")
        return asked


class NativeMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: Text = Field(max_length=_MAX_CONTENT_CHARS)

    def to_message(self) -> Message:
        return Message(role=self.role, content=self.content)


class NativeChatRequest(BaseModel):
    """``POST /api/v1/chat`` as the ``routeplex`` SDK sends it."""

    model_config = ConfigDict(extra="ignore")

    mode: str = Field(default="routeplex-ai", max_length=50)
    model: str | None = Field(default=None, max_length=200)
    strategy: str | None = Field(default=None, max_length=50)
    messages: list[NativeMessage] = Field(max_length=10_000)
    max_output_tokens: int = Field(default=512, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False
    stream_mode: str = "buffered"
    enhance_prompt: bool = False
    test_mode: bool = False


class EstimateRequest(BaseModel):
    """``POST /api/v1/chat/estimate``: cost of a request before sending it."""

    model_config = ConfigDict(extra="ignore")

    messages: list[NativeMessage] = Field(max_length=10_000)
    model: str | None = Field(default=None, max_length=200)
    max_output_tokens: int = Field(default=512, ge=1, le=4096)


class EnhanceRequest(BaseModel):
    """``POST /api/v1/chat/enhance``: the prompt to classify."""

    model_config = ConfigDict(extra="ignore")

    prompt: Text = Field(min_length=1, max_length=_MAX_CONTENT_CHARS)


class FeedbackRequest(BaseModel):
    """``POST /api/v1/insights/feedback``: rate one earlier answer."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    score: int | None = Field(default=None, ge=1, le=5)
    is_helpful: bool | None = None

    @model_validator(mode="after")
    def _needs_a_rating(self) -> FeedbackRequest:
        if self.score is None and self.is_helpful is None:
            raise ValueError("give a score (1-5), is_helpful, or both")
        return self


class CreateKeyRequest(BaseModel):
    """``POST /api/v1/admin/keys``: a new key for an account (created if new)."""

    account: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")

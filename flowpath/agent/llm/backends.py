"""Chat backends of the LLM policy: one small interface, two implementations.

A backend turns chat messages (the chat-completions format: ``{"role", "content"}``, assistant
messages with ``tool_calls``, ``{"role": "tool", "tool_call_id", "content"}``) and tool schemas
into a :class:`ChatReply`: the reply text and the tool calls it asks for.

- :class:`OpenAICompatBackend` — any OpenAI-compatible ``/chat/completions`` endpoint (vLLM,
  llama.cpp server, Ollama, ...), over plain ``httpx``; native ``tool_calls`` are used when the
  server returns them, otherwise a JSON tool call is read from the reply text.
- :class:`LocalHFBackend` — a Hugging Face causal LM from a local folder (optionally a GGUF file
  in it), loaded once per process with ``local_files_only=True``; greedy decoding; the tool call is
  read from the generated JSON. Nothing is ever downloaded.

Transport and decoding failures raise :class:`BackendError`; the policy turns them into a fallback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from flowpath.errors import FlowpathError, InputError
from graphsolvers.extras import require

__all__ = [
    "BackendError",
    "ChatBackend",
    "ChatReply",
    "LocalHFBackend",
    "OpenAICompatBackend",
    "ToolRequest",
    "parse_text_reply",
]

log = logging.getLogger(__name__)


class BackendError(FlowpathError):
    """The chat backend could not produce a reply (HTTP error, timeout, bad response, model failure)."""


class ToolRequest(BaseModel):
    """One tool call the model asks for; ``args`` is None when its arguments were not valid JSON."""

    id: str
    name: str
    args: dict[str, Any] | None = None
    raw_args: str = ""


class ChatReply(BaseModel):
    """What a backend returns for one turn."""

    content: str = ""
    tool_calls: list[ToolRequest] = Field(default_factory=list)
    native: bool = Field(default=False, description="the tool calls came from the protocol, not parsed from text")


class ChatBackend(Protocol):
    """``chat(messages, tools) -> ChatReply``; ``tools`` are chat-completions tool schemas."""

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatReply: ...


# ---------------------------------------------------------------------- text replies
_NAME_KEYS = ("tool", "name", "function", "tool_name")
_ARG_KEYS = ("args", "arguments", "parameters", "input")


def _json_objects(text: str) -> list[Any]:
    """Every JSON object that starts at a ``{`` of ``text`` and decodes, outermost first."""
    decoder = json.JSONDecoder()
    found, pos = [], 0
    while (start := text.find("{", pos)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        found.append(obj)
        pos = end
    return found


def parse_text_reply(text: str, *, final_tool: str = "final_answer") -> ChatReply:
    """Read a tool call from reply text: the first JSON object that names a tool or gives ``nodes``.

    Accepted shapes: ``{"tool": NAME, "args": {...}}`` (also ``name``/``arguments``/``parameters``;
    ``arguments`` may be a JSON string), and ``{"nodes": [...], "reason": "..."}`` for the final answer.
    Text with no such object gives a reply without tool calls.

    Examples
    --------
    >>> parse_text_reply('Sure. {"tool": "neighbours", "args": {"node_id": "C"}}').tool_calls[0].args
    {'node_id': 'C'}
    >>> r = parse_text_reply('```json\\n{"nodes": ["C", "D"], "reason": "stock check"}\\n```')
    >>> r.tool_calls[0].name, r.tool_calls[0].args["nodes"]
    ('final_answer', ['C', 'D'])
    >>> parse_text_reply("I think it is C.").tool_calls
    []
    >>> parse_text_reply('{"nodes": ["C"], "reason": "the stock che').tool_calls[0].args  # cut off
    {'nodes': ['C'], 'reason': ''}
    """
    for i, obj in enumerate(_json_objects(text)):
        if not isinstance(obj, dict):
            continue
        if "nodes" in obj:
            args = {"nodes": obj["nodes"], "reason": obj.get("reason", "")}
            return ChatReply(content=text, tool_calls=[ToolRequest(id=f"text-{i}", name=final_tool, args=args)])
        name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
        if name is None and isinstance(obj.get("function"), dict):  # {"function": {"name":..., "arguments":...}}
            obj = obj["function"]
            name = obj.get("name") if isinstance(obj.get("name"), str) else None
        if name is None:
            continue
        raw = next((obj[k] for k in _ARG_KEYS if k in obj), {})
        args, raw_text = _decode_args(raw)
        return ChatReply(
            content=text, tool_calls=[ToolRequest(id=f"text-{i}", name=name, args=args, raw_args=raw_text)]
        )
    nodes = _truncated_nodes(text)
    if nodes is not None:  # a final answer cut off after its node list (generation ran out of tokens)
        args = {"nodes": nodes, "reason": ""}
        return ChatReply(content=text, tool_calls=[ToolRequest(id="text-cut", name=final_tool, args=args)])
    return ChatReply(content=text)


_NODES_LIST = re.compile(r'"nodes"\s*:\s*(\[[^\]]*\])')


def _truncated_nodes(text: str) -> list[Any] | None:
    """The complete ``"nodes": [...]`` list of an unfinished JSON object, if there is one."""
    m = _NODES_LIST.search(text)
    if not m:
        return None
    try:
        value = json.loads(m.group(1))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def _decode_args(raw: Any) -> tuple[dict[str, Any] | None, str]:
    """Tool arguments as a dict (None when they are not a JSON object), and their text."""
    if isinstance(raw, dict):
        return raw, json.dumps(raw)
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return None, raw
        return (value, raw) if isinstance(value, dict) else (None, raw)
    return None, json.dumps(raw)


# ---------------------------------------------------------------------- OpenAI-compatible
class OpenAICompatBackend:
    """Chat completions over HTTP (``POST {base_url}/chat/completions``), with native tool calls.

    Parameters
    ----------
    base_url : str
        E.g. ``http://127.0.0.1:8000/v1`` (vLLM), ``http://127.0.0.1:11434/v1`` (Ollama).
    model : str
        The served model's name.
    api_key : str, optional
        Sent as a bearer token; default ``$OPENAI_API_KEY`` when set.
    timeout : float
        Seconds per request.

    Examples
    --------
    >>> backend = OpenAICompatBackend("http://127.0.0.1:8000/v1", "qwen2.5-7b-instruct")
    >>> reply = backend.chat([{"role": "user", "content": "hi"}], tools=[])  # doctest: +SKIP
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatReply:
        httpx = require("httpx")  # the llm extra

        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        if tools:
            body["tools"] = tools
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            resp = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout)
            resp.raise_for_status()
            message = resp.json()["choices"][0]["message"]
        except httpx.HTTPStatusError as e:
            raise BackendError(f"chat endpoint {self.url} answered HTTP {e.response.status_code}") from e
        except httpx.TimeoutException as e:
            raise BackendError(f"chat endpoint {self.url} timed out after {self.timeout:g} s") from e
        except httpx.HTTPError as e:
            raise BackendError(f"chat endpoint {self.url} unreachable: {e}") from e
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise BackendError(f"chat endpoint {self.url} sent no chat-completions message: {e}") from e
        return _reply_of(message)


def _reply_of(message: dict[str, Any]) -> ChatReply:
    """A chat-completions ``message`` as a :class:`ChatReply` (text tool calls when none are native)."""
    content = message.get("content") or ""
    if not isinstance(content, str):
        content = json.dumps(content)
    calls = []
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = call.get("function") or {}
        args, raw = _decode_args(fn.get("arguments", {}))
        calls.append(
            ToolRequest(id=str(call.get("id") or f"call-{i}"), name=str(fn.get("name", "")), args=args, raw_args=raw)
        )
    if calls:
        return ChatReply(content=content, tool_calls=calls, native=True)
    return parse_text_reply(content)


# ---------------------------------------------------------------------- local Hugging Face model
class LocalHFBackend:
    """A causal LM from a local folder, greedy decoding, tool calls read from the generated JSON.

    Parameters
    ----------
    path : str or Path
        Folder with the model (config + weights, or a GGUF file) and its tokenizer.
    gguf_file : str, optional
        A GGUF file name inside ``path`` (needs the ``gguf`` package; weights are dequantised).
    max_new_tokens : int
        Tokens generated per turn.

    Examples
    --------
    >>> backend = LocalHFBackend("models/smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
    >>> backend.chat([{"role": "user", "content": 'Reply {"nodes": []}'}], tools=[]).tool_calls  # doctest: +SKIP
    """

    #: generation starts inside a JSON object, which small models then tend to complete; when only
    #: ``final_answer`` is offered (the last turn) it starts inside the final answer
    PREFIX = '{"'
    FINAL_PREFIX = '{"nodes": ["'

    def __init__(self, path: str | Path, *, gguf_file: str | None = None, max_new_tokens: int = 96) -> None:
        self.path = Path(path)
        self.gguf_file = gguf_file
        self.max_new_tokens = max_new_tokens

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatReply:
        import torch

        tokenizer, model = load_local_model(str(self.path), self.gguf_file)
        try:
            prompt = tokenizer.apply_chat_template(
                _plain_messages(messages), add_generation_prompt=True, tokenize=False
            )
            names = [t.get("function", {}).get("name") for t in tools]
            prefix = self.FINAL_PREFIX if names == ["final_answer"] else self.PREFIX
            enc = tokenizer(prompt + prefix, return_tensors="pt", add_special_tokens=False)
            with _GENERATE_LOCK, torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
            text = prefix + tokenizer.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)
        except Exception as e:  # a model that cannot run a turn is a backend failure, not a crash
            raise BackendError(f"local model {self.path} failed to generate: {type(e).__name__}: {e}") from e
        return parse_text_reply(text)


_GENERATE_LOCK = threading.Lock()


def _plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages any chat template accepts: tool results become user turns, tool calls become JSON text."""
    plain = []
    for m in messages:
        content = m.get("content") or ""
        if m["role"] == "tool":
            plain.append({"role": "user", "content": f"Tool result: {content}"})
        elif m["role"] == "assistant" and m.get("tool_calls") and not content:
            fn = m["tool_calls"][0]["function"]
            plain.append({"role": "assistant", "content": json.dumps({"tool": fn["name"], "args": fn["arguments"]})})
        else:
            plain.append({"role": m["role"], "content": content})
    return plain


@lru_cache(maxsize=2)
def load_local_model(path: str, gguf_file: str | None = None) -> tuple[Any, Any]:
    """``(tokenizer, model)`` from a local folder, once per process; never downloads.

    Raises
    ------
    InputError
        When the folder or GGUF file is missing or holds no loadable model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"--llm-path {path!r} is not a folder")
    if gguf_file and not (folder / gguf_file).is_file():
        raise InputError(f"--llm-gguf {gguf_file!r} is not a file in {path}")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        require("gguf")  # transformers reads GGUF files with it (the llm extra)
        kwargs["gguf_file"] = gguf_file
    log.info("loading local chat model from %s%s", path, f" ({gguf_file})" if gguf_file else "")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError, ImportError) as e:
        raise InputError(f"no loadable causal LM in {path}: {_first_line(e)}") from e
    model.eval()
    return tokenizer, model


def _first_line(e: BaseException) -> str:
    return re.split(r"\n", str(e).strip() or type(e).__name__)[0]

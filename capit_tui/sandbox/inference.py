"""The inference APIs: OpenAI chat completions, OpenAI Responses and Anthropic Messages (plus
`/messages/count_tokens` and the `/models` catalogue). Each call is charged to the calling key and
refused with 403 "Key limit exceeded (<window> limit)" once the key's window is spent; every reply is
REPLY_TEXT, whole or streamed as server-sent events in each API's own event sequence."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from capit_tui.sandbox.auth import inference_key
from capit_tui.sandbox.guardrails import model_refusal
from capit_tui.sandbox.wire import Request, Resp, dumps, error, json_resp, num

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox

REPLY_TEXT = "Hello from the capit-tui sandbox."
MANAGE_URL = "https://openrouter.ai/settings/keys"

# (id, display name, context length, $ per million prompt tokens, $ per million completion tokens)
MODELS: tuple[tuple[str, str, int, str, str], ...] = (
    ("anthropic/claude-sonnet-4.5", "Anthropic: Claude Sonnet 4.5", 1_000_000, "3", "15"),
    ("anthropic/claude-opus-4.5", "Anthropic: Claude Opus 4.5", 200_000, "5", "25"),
    ("anthropic/claude-haiku-4.5", "Anthropic: Claude Haiku 4.5", 200_000, "1", "5"),
    ("openai/gpt-5.1-codex", "OpenAI: GPT-5.1-Codex", 400_000, "1.25", "10"),
    ("openai/gpt-5.1", "OpenAI: GPT-5.1", 400_000, "1.25", "10"),
    ("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128_000, "0.15", "0.6"),
)
_DEFAULT_MODEL = {"chat": "openai/gpt-4o-mini", "responses": "openai/gpt-5.1-codex",
                  "messages": "anthropic/claude-sonnet-4.5"}

_PIECES = ["Hello", " from", " the", " capit-tui", " sandbox."]
assert "".join(_PIECES) == REPLY_TEXT


# ---------------------------------------------------------------- endpoints


def models(sb: Sandbox, req: Request) -> Resp:
    created = int(datetime(2025, 9, 29, tzinfo=timezone.utc).timestamp())
    if "anthropic-version" in req.headers:  # Claude Code's gateway model discovery
        listed = [{"type": "model", "id": mid, "display_name": name.split(": ", 1)[-1],
                   "created_at": "2025-09-29T00:00:00Z"} for mid, name, *_ in MODELS]
        return json_resp(200, {"data": listed, "has_more": False, "first_id": listed[0]["id"],
                               "last_id": listed[-1]["id"]})
    data: list[dict[str, Any]] = []
    for mid, name, ctx, prompt, completion in MODELS:
        data.append({
            "id": mid, "canonical_slug": mid, "name": name, "created": created,
            "object": "model", "owned_by": mid.split("/")[0],
            "description": f"{name} (capit-tui sandbox: every reply is the same short text).",
            "context_length": ctx,
            "architecture": {"modality": "text->text", "input_modalities": ["text"],
                             "output_modalities": ["text"], "tokenizer": "Other", "instruct_type": None},
            "pricing": {"prompt": str(Decimal(prompt) / 1_000_000),
                        "completion": str(Decimal(completion) / 1_000_000),
                        "request": "0", "image": "0"},
            "top_provider": {"context_length": ctx, "max_completion_tokens": 64000, "is_moderated": False},
            "per_request_limits": None,
            "supported_parameters": ["max_tokens", "temperature", "tools", "tool_choice", "stop",
                                     "reasoning", "include_reasoning", "response_format"],
        })
    return json_resp(200, {"data": data})


def chat_completions(sb: Sandbox, req: Request) -> Resp:
    return _inference(sb, req, "chat")


def responses(sb: Sandbox, req: Request) -> Resp:
    return _inference(sb, req, "responses")


def messages(sb: Sandbox, req: Request) -> Resp:
    return _inference(sb, req, "messages")


def count_tokens(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        who = inference_key(sb, req.token, True)
        if isinstance(who, Resp):
            return who
    if req.bad_json or not isinstance(req.body, dict):
        return error(400, "Request body must be a JSON object", anthropic=True)
    return json_resp(200, {"input_tokens": max(1, len(req.raw) // 4)})


def _inference(sb: Sandbox, req: Request, api: str) -> Resp:
    anthropic = api == "messages"
    store, body = sb.store, req.body
    with store.lock:
        who = inference_key(sb, req.token, anthropic)
        if isinstance(who, Resp):
            return who
        if req.bad_json or not isinstance(body, dict):
            return error(400, "Request body must be a JSON object", anthropic=anthropic)
        if api in ("chat", "messages") and not isinstance(body.get("messages"), list):
            return error(400, "messages is required and must be an array", anthropic=anthropic)
        if api == "responses" and "input" not in body:
            return error(400, "input is required", anthropic=anthropic)
        asked = body.get("model")
        model: str = asked if isinstance(asked, str) and asked else _DEFAULT_MODEL[api]
        refusal = model_refusal(sb.guardrails.of_key(who.hash), model)
        if refusal is not None:
            return error(403, refusal, anthropic=anthropic)
        now = store.now()
        remaining = who.remaining(now)
        if remaining is not None and remaining <= 0:
            window = who.limit_reset or "total"
            return error(403, f"Key limit exceeded ({window} limit). Manage it using {MANAGE_URL}",
                         anthropic=anthropic)
        prompt_tokens = max(1, len(req.raw) // 4)
        completion_tokens = len(_PIECES) + 3
        store.charge(who, sb.cost_per_call, now)
        sb.activity.record(now, who.hash, who.workspace_id, model, cost=sb.cost_per_call,
                           prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        sb.inference_calls.append((who.hash, req.path))
        gen_id = f"gen-{int(now.timestamp())}-{store.ids.getrandbits(80):020x}"
        item_id = f"msg_{store.ids.getrandbits(96):024x}"
    ctx = _Ctx(gen_id, item_id, model, int(now.timestamp()), prompt_tokens, completion_tokens,
               sb.cost_per_call, body)
    stream = body.get("stream") is True
    if api == "chat":
        return _sse(_chat_stream(ctx)) if stream else json_resp(200, _chat_completion(ctx))
    if api == "responses":
        return _sse(_responses_stream(ctx)) if stream else json_resp(200, _response_object(ctx, "completed"))
    return _sse(_messages_stream(ctx)) if stream else json_resp(200, _anthropic_message(ctx))


# ---------------------------------------------------------------- reply bodies and event streams


@dataclass(frozen=True)
class _Ctx:
    gen_id: str
    item_id: str
    model: str
    created: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    body: dict[str, Any]


def _sse(events: Iterator[bytes]) -> Resp:
    return Resp(200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                              "X-Accel-Buffering": "no"}, stream=events)


def _event(name: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else dumps(data).decode()
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode("utf-8")


def _chat_usage(c: _Ctx) -> dict[str, Any]:
    return {
        "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens, "cost": num(c.cost), "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "cost_details": {"upstream_inference_cost": None},
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
    }


def _chat_completion(c: _Ctx) -> dict[str, Any]:
    return {
        "id": c.gen_id, "provider": "CapitSandbox", "model": c.model, "object": "chat.completion",
        "created": c.created, "system_fingerprint": None,
        "choices": [{
            "index": 0, "logprobs": None, "finish_reason": "stop", "native_finish_reason": "stop",
            "message": {"role": "assistant", "content": REPLY_TEXT, "refusal": None, "reasoning": None},
        }],
        "usage": _chat_usage(c),
    }


def _chat_stream(c: _Ctx) -> Iterator[bytes]:
    base = {"id": c.gen_id, "provider": "CapitSandbox", "model": c.model, "object": "chat.completion.chunk",
            "created": c.created, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                    "native_finish_reason": finish, "logprobs": None}]}

    yield b": OPENROUTER PROCESSING\n\n"
    yield _event(None, chunk({"role": "assistant", "content": ""}, None))
    for piece in _PIECES:
        yield _event(None, chunk({"role": "assistant", "content": piece}, None))
    yield _event(None, chunk({"role": "assistant", "content": ""}, "stop"))
    yield _event(None, base | {"choices": [], "usage": _chat_usage(c)})
    yield _event(None, "[DONE]")


def _output_message(c: _Ctx, status: str) -> dict[str, Any]:
    content = [] if status == "in_progress" else [
        {"type": "output_text", "text": REPLY_TEXT, "annotations": [], "logprobs": []}]
    return {"id": c.item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _response_object(c: _Ctx, status: str) -> dict[str, Any]:
    b = c.body
    done = status == "completed"
    return {
        "id": c.gen_id, "object": "response", "created_at": c.created, "status": status,
        "background": False, "error": None, "incomplete_details": None,
        "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
        "model": c.model, "output": [_output_message(c, "completed")] if done else [],
        "parallel_tool_calls": b.get("parallel_tool_calls", True),
        "previous_response_id": b.get("previous_response_id"),
        "reasoning": {"effort": (b.get("reasoning") or {}).get("effort") if isinstance(b.get("reasoning"), dict)
                      else None, "summary": None},
        "store": b.get("store", False), "temperature": b.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": b.get("tool_choice", "auto"), "tools": b.get("tools", []),
        "top_p": b.get("top_p", 1.0), "truncation": "disabled",
        "usage": {
            "input_tokens": c.prompt_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": c.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": c.prompt_tokens + c.completion_tokens, "cost": num(c.cost),
        } if done else None,
        "user": None, "metadata": b.get("metadata") or {},
    }


def _responses_stream(c: _Ctx) -> Iterator[bytes]:
    seq = itertools.count()

    def ev(kind: str, **fields: Any) -> bytes:
        return _event(kind, {"type": kind, "sequence_number": next(seq), **fields})

    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": c.item_id, "output_index": 0, "content_index": 0}
    yield ev("response.created", response=_response_object(c, "in_progress"))
    yield ev("response.in_progress", response=_response_object(c, "in_progress"))
    yield ev("response.output_item.added", output_index=0, item=_output_message(c, "in_progress"))
    yield ev("response.content_part.added", **where, part=part)
    for piece in _PIECES:
        yield ev("response.output_text.delta", **where, delta=piece, logprobs=[])
    yield ev("response.output_text.done", **where, text=REPLY_TEXT, logprobs=[])
    yield ev("response.content_part.done", **where, part=part | {"text": REPLY_TEXT})
    yield ev("response.output_item.done", output_index=0, item=_output_message(c, "completed"))
    yield ev("response.completed", response=_response_object(c, "completed"))


def _anthropic_usage(c: _Ctx, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": c.prompt_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _anthropic_message(c: _Ctx) -> dict[str, Any]:
    return {
        "id": c.gen_id, "type": "message", "role": "assistant", "model": c.model,
        "content": [{"type": "text", "text": REPLY_TEXT}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": _anthropic_usage(c, c.completion_tokens),
    }


def _messages_stream(c: _Ctx) -> Iterator[bytes]:
    def ev(kind: str, **fields: Any) -> bytes:
        return _event(kind, {"type": kind, **fields})

    start = _anthropic_message(c) | {"content": [], "stop_reason": None, "usage": _anthropic_usage(c, 1)}
    yield ev("message_start", message=start)
    yield ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
    yield ev("ping")
    for piece in _PIECES:
        yield ev("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
    yield ev("content_block_stop", index=0)
    yield ev("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None},
             usage={"output_tokens": c.completion_tokens})
    yield ev("message_stop")

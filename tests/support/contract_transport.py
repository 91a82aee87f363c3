"""An httpx transport that forwards to the real server and checks both directions against a spec."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx
from openapi_contract import OPENROUTER, Contract


class ContractTransport(httpx.AsyncBaseTransport):
    """Every request the adapter sends and every answer it gets must match the OpenAPI subset."""

    def __init__(self, *, fail_after_send: set[str] | None = None, contract: Contract = OPENROUTER):
        self.contract = contract  # OpenRouter's subset, or the LiteLLM proxy's (openapi_contract.LITELLM)
        self._inner = httpx.AsyncHTTPTransport()
        self.checked = 0
        self.sent: list[tuple[str, str]] = []
        # "POST /api/v1/keys": forward the request, then pretend the reply never came (timeout).
        self.fail_after_send = fail_after_send or set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        query = dict(parse_qsl(request.url.query.decode()))
        path = request.url.path
        self.contract.validate_request(request.method, path, query, body)
        self.sent.append((request.method, path))
        resp = await self._inner.handle_async_request(request)
        raw = await resp.aread()
        if f"{request.method} {path}" in self.fail_after_send:
            raise httpx.ReadTimeout("simulated: the reply was lost", request=request)
        if resp.headers.get("content-type", "").startswith("application/json") and resp.status_code != 429:
            self.contract.validate_response(request.method, path, resp.status_code, json.loads(raw),
                                            undocumented_errors=True)
            self.checked += 1
        return httpx.Response(resp.status_code, headers=resp.headers, content=raw, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()

"""A transport that forwards to the real server and checks both directions against a spec."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from openapi_contract import OPENROUTER, Contract

from capit_tui.platforms.transport import HttpTransport, Reply, Request, TimedOut


class ContractTransport:
    """Every request the adapter sends and every answer it gets must match the OpenAPI subset."""

    def __init__(self, *, fail_after_send: set[str] | None = None, contract: Contract = OPENROUTER):
        self.contract = contract  # OpenRouter's subset, or the LiteLLM proxy's (openapi_contract.LITELLM)
        self._inner = HttpTransport()
        self.checked = 0
        self.sent: list[tuple[str, str]] = []
        # "POST /api/v1/keys": forward the request, then pretend the reply never came (timeout).
        self.fail_after_send = fail_after_send or set()

    def handle(self, request: Request) -> Reply:
        body = json.loads(request.content) if request.content else None
        query = dict(parse_qsl(request.query))
        path = request.path
        self.contract.validate_request(request.method, path, query, body)
        self.sent.append((request.method, path))
        resp = self._inner.handle(request)
        raw = resp.content
        if f"{request.method} {path}" in self.fail_after_send:
            raise TimedOut("simulated: the reply was lost", sent=True)
        if resp.headers.get("content-type", "").startswith("application/json") and resp.status_code != 429:
            self.contract.validate_response(request.method, path, resp.status_code, json.loads(raw),
                                            undocumented_errors=True)
            self.checked += 1
        return resp

    def close(self) -> None:
        self._inner.close()

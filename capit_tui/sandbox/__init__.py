"""The sandbox: a real OpenRouter-compatible HTTP server on loopback, for tests, benchmarks, `--demo`
and `capit-tui sandbox serve`.

It speaks the key-management API (`/api/v1/key`, `/credits`, `/keys`, `/keys/{hash}`, `/workspaces`,
`/activity`, `/guardrails`)
with the shapes of OpenRouter's OpenAPI spec, and three inference APIs that charge each call to the
calling key and refuse with 403 "Key limit exceeded (<window> limit)" once the key's window is spent:
OpenAI chat completions, OpenAI Responses and Anthropic Messages, streaming or not.

Standard library only (plus capit_tui's own Decimal helpers): `http.server.ThreadingHTTPServer` in a
daemon thread, so it runs without an event loop and inside subprocesses. Time comes from an
injectable clock read on every request; randomness from `random.Random(seed)`. Secrets are never
printed or logged: the server prints no request lines, and the admin view of recorded requests
replaces credentials with the key hash.

    with Sandbox(seed_keys=40) as sb:
        req = urllib.request.Request(sb.base_url + "/keys", headers={"Authorization": f"Bearer {sb.management_key}"})
        urllib.request.urlopen(req)

Its rooms:

    server      Sandbox (start, stop, state for tests) and serve()
    state       the Store of keys and workspaces, spend windows, hashes and labels
    http        the threading server, one request's way through, the routing table, the request log
    auth        credentials, and the refusals each API answers
    management  /key, /credits, /keys, /keys/{hash}, /workspaces
    fields      the query and body parsers the management rooms share
    budgets     the budgets GET /key reports (the key's limit, its guardrail's)
    guardrails  /guardrails and their key assignments; allowed_models refused at inference
    activity    /activity: charged calls per day, model and workspace
    inference   chat completions, Responses, Messages (streaming or not), count_tokens, /models
    faults      fault injection
    admin       the /_sandbox admin API
    seeding     seeded workspaces and keys, the traffic simulator
    wire        Request, Resp, JSON and error shapes shared by all of them
"""

from capit_tui.sandbox.faults import FAULT_KINDS
from capit_tui.sandbox.http import RecordedRequest
from capit_tui.sandbox.inference import REPLY_TEXT
from capit_tui.sandbox.server import Sandbox, serve
from capit_tui.sandbox.state import SandboxKey, sha256_hex

__all__ = ["FAULT_KINDS", "REPLY_TEXT", "RecordedRequest", "Sandbox", "SandboxKey", "serve", "sha256_hex"]

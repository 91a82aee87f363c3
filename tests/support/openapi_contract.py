"""Validate requests and responses against an OpenAPI subset vendored in tests/data/: OpenRouter's (the
module-level functions) or the LiteLLM proxy's (`LITELLM`).

    validate_request("GET", "/api/v1/keys", {"offset": "100"}, None)
    validate_response("GET", "/api/v1/keys", 200, body)
    LITELLM.validate_request("GET", "/key/list", {"page": "1"}, None)

Both raise AssertionError with a readable message on any mismatch, including an operation or a
status code the spec does not list. Schemas are checked with JSON Schema Draft 2020-12; `$ref`s to
`#/components/schemas/...` resolve against the whole document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

# jsonschema checks "date-time" only when rfc3339-validator is installed; check it ourselves.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    return True


def _check(validator: Draft202012Validator, instance: Any, what: str) -> None:
    errors = list(validator.iter_errors(instance))
    if not errors:
        return
    err = best_match(errors)
    where = "/".join(str(p) for p in err.absolute_path) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    shown = repr(instance)
    if len(shown) > 600:
        shown = shown[:600] + "..."
    raise AssertionError(f"{what}: at {where}: {err.message}{more}\n  instance: {shown}")



def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """A query/path string as the type its schema wants (so "100" can validate as an integer)."""
    if not isinstance(value, str):
        return value
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "integer" in types and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value):
        return float(value)
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    if "null" in types and value == "" and "string" not in types:
        return None
    return value


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Contract:
    """One vendored OpenAPI subset: its file under tests/data/, and the path prefixes a server puts before
    the spec's paths (OpenRouter's /api/v1; none for the LiteLLM proxy)."""

    def __init__(self, spec_name: str, prefixes: tuple[str, ...] = (),
                 error_check: Callable[[int, object], None] | None = None):
        self.spec_name = spec_name
        self.uri = "urn:capit-tui:" + spec_name.removesuffix(".yaml")
        self.prefixes = prefixes
        self.error_check = error_check  # checks an error body on a status the operation does not list

    def spec_path(self) -> Path:
        """The contract vendored under tests/data/: a clone needs nothing beside it."""
        return Path(__file__).resolve().parents[1] / "data" / self.spec_name

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        with open(self.spec_path(), encoding="utf-8") as fh:
            return yaml.safe_load(fh)

    @functools.cached_property
    def _registry(self) -> Registry:
        return Registry().with_resource(self.uri, Resource(contents=self.spec, specification=DRAFT202012))

    @functools.cached_property
    def _templates(self) -> list[tuple[re.Pattern[str], str, list[str]]]:
        """(regex, template, param names), literal paths before templated ones."""
        out = []
        for template in self.spec["paths"]:
            names = re.findall(r"\{([^}]+)\}", template)
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "/?$"
            out.append((re.compile(regex), template, names))
        out.sort(key=lambda t: (len(t[2]), t[1]))
        return out

    def _validator(self, *pointer: str) -> Draft202012Validator:
        """A validator for the schema at a JSON pointer inside the spec document."""
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$ref": f"{self.uri}#/{_pointer(*pointer)}"}
        return Draft202012Validator(schema, registry=self._registry, format_checker=FORMATS)

    def operation(self, method: str, path: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(spec path template, path params, operation object) for a concrete request path."""
        p = path.split("?", 1)[0]
        for prefix in self.prefixes:
            if p.startswith(prefix + "/"):
                p = p[len(prefix):]
                break
        m = method.lower()
        for regex, template, names in self._templates:
            match = regex.match(p)
            if not match:
                continue
            ops = self.spec["paths"][template]
            if m not in ops:
                raise AssertionError(
                    f"{method.upper()} {path}: the spec has {template} but no {method.upper()} on it "
                    f"(it has {', '.join(k.upper() for k in ops if not k.startswith('x-'))})")
            return template, dict(zip(names, match.groups(), strict=True)), ops[m]
        raise AssertionError(f"{method.upper()} {path}: no such path in the OpenAPI subset")

    def validate_request(self, method: str, path: str, query: dict[str, Any] | None, body: object | None) -> None:
        template, path_params, op = self.operation(method, path)
        what = f"request {method.upper()} {template}"
        params = op.get("parameters") or []
        by_name = {(p["in"], p["name"]): p for p in params}

        for name, value in path_params.items():
            p = by_name.get(("path", name))
            if p is None:
                raise AssertionError(f"{what}: path parameter {name!r} is not declared in the spec")
            _check(self._validator("paths", template, method.lower(), "parameters", str(params.index(p)), "schema"),
                   _coerce(value, p.get("schema", {})), f"{what}: path parameter {name}={value!r}")

        query = dict(query or {})
        for name, value in query.items():
            p = by_name.get(("query", name))
            if p is None:
                declared = sorted(n for (where, n) in by_name if where == "query")
                raise AssertionError(f"{what}: query parameter {name!r} is not in the spec (declared: {declared})")
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (int, float)):
                value = str(value)
            schema = p.get("schema", {})
            if schema.get("x-openrouter-type") == "boolean" and value not in ("true", "false"):
                raise AssertionError(f"{what}: query parameter {name}={value!r} must be 'true' or 'false'")
            i = params.index(p)
            _check(self._validator("paths", template, method.lower(), "parameters", str(i), "schema"),
                   _coerce(value, schema), f"{what}: query parameter {name}={value!r}")
        for (where, name), p in by_name.items():
            if where == "query" and p.get("required") and name not in query:
                raise AssertionError(f"{what}: required query parameter {name!r} is missing")

        rb = op.get("requestBody")
        if rb is None:
            if body is not None:
                raise AssertionError(f"{what}: the spec has no request body for this operation, but one was sent")
            return
        if body is None:
            if rb.get("required"):
                raise AssertionError(f"{what}: a JSON request body is required")
            return
        if "application/json" not in rb.get("content", {}):
            raise AssertionError(f"{what}: the spec takes no application/json body")
        _check(self._validator("paths", template, method.lower(), "requestBody", "content", "application/json", "schema"),
               body, f"{what}: body")

    def validate_response(self, method: str, path: str, status: int, body: object, *,
                          undocumented_errors: bool = False) -> None:
        """Check a response against the operation's schema for that status.

        A status the operation does not list raises, unless `undocumented_errors` is true and the status
        is an error (>= 400): then the body must still be OpenRouter's error envelope with
        `error.code == status`. (The spec omits 403 on GET /keys and GET /workspaces, yet OpenRouter
        answers 403 "Only management keys can perform this operation" to an inference key there.)
        """
        template, _, op = self.operation(method, path)
        what = f"response {method.upper()} {template} {status}"
        responses = op.get("responses") or {}
        key = str(status)
        if key not in responses:
            for candidate in (f"{key[0]}XX", f"{key[0]}xx", "default"):
                if candidate in responses:
                    key = candidate
                    break
            else:
                if undocumented_errors and status >= 400 and self.error_check is not None:
                    self.error_check(status, body)
                    return
                raise AssertionError(
                    f"{what}: status {status} is not in the spec for this operation (it lists {sorted(responses)})")
        content = responses[key].get("content") or {}
        if "application/json" not in content:
            if body not in (None, b"", ""):
                raise AssertionError(f"{what}: the spec declares no JSON body, but one was returned")
            return
        _check(self._validator("paths", template, method.lower(), "responses", key, "content", "application/json",
                          "schema"), body, what)

    def validate_component(self, name: str, instance: object) -> None:
        """Validate against `#/components/schemas/<name>` (e.g. an error envelope on a status the
        operation does not list, such as 403 on GET /keys)."""
        if name not in self.spec["components"]["schemas"]:
            raise AssertionError(f"no schema {name!r} in components/schemas")
        _check(self._validator("components", "schemas", name), instance, f"schema {name}")


# The error envelope schema for each status, for statuses an operation does not list.
ERROR_SCHEMAS = {400: "BadRequestResponse", 401: "UnauthorizedResponse", 403: "ForbiddenResponse",
                 404: "NotFoundResponse", 429: "TooManyRequestsResponse", 500: "InternalServerResponse"}


def validate_error(status: int, body: object) -> None:
    """OpenRouter's error envelope {"error": {"code": status, "message": ...}} for any error status."""
    _check(OPENROUTER._validator("components", "schemas", ERROR_SCHEMAS.get(status, "InternalServerResponse")), body,
           f"error response {status}")
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if code != status:
        raise AssertionError(f"error response {status}: error.code is {code!r}, not {status}")


def validate_proxy_error(status: int, body: object) -> None:
    """The LiteLLM proxy's error bodies, which its spec does not list: ProxyException's
    {"error": {"message", "type", "param", "code": "<status>"}}, or FastAPI's {"detail": ...}."""
    if isinstance(body, dict) and "detail" in body and "error" not in body:
        return
    err = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)
            and err.get("code") == str(status)):
        raise AssertionError(f"error response {status}: not a LiteLLM ProxyException body: {body!r:.300}")


OPENROUTER = Contract("openrouter-openapi-subset.yaml", ("/api/v1",), validate_error)
LITELLM = Contract("litellm-openapi-subset.yaml", (), validate_proxy_error)

# OpenRouter's contract, as the tests have always called it.
SPEC_NAME = OPENROUTER.spec_name
validate_request = OPENROUTER.validate_request
validate_response = OPENROUTER.validate_response
validate_component = OPENROUTER.validate_component
operation = OPENROUTER.operation


def spec() -> dict[str, Any]:
    return OPENROUTER.spec


def spec_path() -> Path:
    return OPENROUTER.spec_path()

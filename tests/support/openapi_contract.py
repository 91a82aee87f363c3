"""Validate requests and responses against OpenRouter's OpenAPI subset (vendored in tests/data/).

    validate_request("GET", "/api/v1/keys", {"offset": "100"}, None)
    validate_response("GET", "/api/v1/keys", 200, body)

Both raise AssertionError with a readable message on any mismatch, including an operation or a
status code the spec does not list. Schemas are checked with JSON Schema Draft 2020-12; `$ref`s to
`#/components/schemas/...` resolve against the whole document.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_NAME = "openrouter-openapi-subset.yaml"
SPEC_URI = "urn:capit-tui:openrouter-openapi-subset"
_PREFIXES = ("/api/v1",)
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


def spec_path() -> Path:
    """The contract vendored under tests/data/ (OpenRouter's spec, MIT): a clone needs nothing beside it."""
    return Path(__file__).resolve().parents[1] / "data" / SPEC_NAME


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    with open(spec_path(), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(contents=spec(), specification=DRAFT202012))


@functools.lru_cache(maxsize=1)
def _templates() -> list[tuple[re.Pattern[str], str, list[str]]]:
    """(regex, template, param names), literal paths before templated ones."""
    out = []
    for template in spec()["paths"]:
        names = re.findall(r"\{([^}]+)\}", template)
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "/?$"
        out.append((re.compile(regex), template, names))
    out.sort(key=lambda t: (len(t[2]), t[1]))
    return out


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validator(*pointer: str) -> Draft202012Validator:
    """A validator for the schema at a JSON pointer inside the spec document."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$ref": f"{SPEC_URI}#/{_pointer(*pointer)}"}
    return Draft202012Validator(schema, registry=_registry(),
                                format_checker=FORMATS)


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


def operation(method: str, path: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(spec path template, path params, operation object) for a concrete request path."""
    p = path.split("?", 1)[0]
    for prefix in _PREFIXES:
        if p.startswith(prefix + "/"):
            p = p[len(prefix):]
            break
    m = method.lower()
    for regex, template, names in _templates():
        match = regex.match(p)
        if not match:
            continue
        ops = spec()["paths"][template]
        if m not in ops:
            raise AssertionError(
                f"{method.upper()} {path}: the spec has {template} but no {method.upper()} on it "
                f"(it has {', '.join(k.upper() for k in ops if not k.startswith('x-'))})")
        return template, dict(zip(names, match.groups(), strict=True)), ops[m]
    raise AssertionError(f"{method.upper()} {path}: no such path in the OpenAPI subset")


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


def validate_request(method: str, path: str, query: dict[str, Any] | None, body: object | None) -> None:
    template, path_params, op = operation(method, path)
    what = f"request {method.upper()} {template}"
    params = op.get("parameters") or []
    by_name = {(p["in"], p["name"]): p for p in params}

    for name, value in path_params.items():
        p = by_name.get(("path", name))
        if p is None:
            raise AssertionError(f"{what}: path parameter {name!r} is not declared in the spec")
        _check(_validator("paths", template, method.lower(), "parameters", str(params.index(p)), "schema"),
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
        _check(_validator("paths", template, method.lower(), "parameters", str(i), "schema"),
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
    _check(_validator("paths", template, method.lower(), "requestBody", "content", "application/json", "schema"),
           body, f"{what}: body")


# The error envelope schema for each status, for statuses an operation does not list.
ERROR_SCHEMAS = {400: "BadRequestResponse", 401: "UnauthorizedResponse", 403: "ForbiddenResponse",
                 404: "NotFoundResponse", 429: "TooManyRequestsResponse", 500: "InternalServerResponse"}


def validate_response(method: str, path: str, status: int, body: object, *,
                      undocumented_errors: bool = False) -> None:
    """Check a response against the operation's schema for that status.

    A status the operation does not list raises, unless `undocumented_errors` is true and the status
    is an error (>= 400): then the body must still be OpenRouter's error envelope with
    `error.code == status`. (The spec omits 403 on GET /keys and GET /workspaces, yet OpenRouter
    answers 403 "Only management keys can perform this operation" to an inference key there.)
    """
    template, _, op = operation(method, path)
    what = f"response {method.upper()} {template} {status}"
    responses = op.get("responses") or {}
    key = str(status)
    if key not in responses:
        for candidate in (f"{key[0]}XX", f"{key[0]}xx", "default"):
            if candidate in responses:
                key = candidate
                break
        else:
            if undocumented_errors and status >= 400:
                validate_error(status, body)
                return
            raise AssertionError(
                f"{what}: status {status} is not in the spec for this operation (it lists {sorted(responses)})")
    content = responses[key].get("content") or {}
    if "application/json" not in content:
        if body not in (None, b"", ""):
            raise AssertionError(f"{what}: the spec declares no JSON body, but one was returned")
        return
    _check(_validator("paths", template, method.lower(), "responses", key, "content", "application/json",
                      "schema"), body, what)


def validate_component(name: str, instance: object) -> None:
    """Validate against `#/components/schemas/<name>` (e.g. an error envelope on a status the
    operation does not list, such as 403 on GET /keys)."""
    if name not in spec()["components"]["schemas"]:
        raise AssertionError(f"no schema {name!r} in components/schemas")
    _check(_validator("components", "schemas", name), instance, f"schema {name}")


def validate_error(status: int, body: object) -> None:
    """OpenRouter's error envelope {"error": {"code": status, "message": ...}} for any error status."""
    _check(_validator("components", "schemas", ERROR_SCHEMAS.get(status, "InternalServerResponse")), body,
           f"error response {status}")
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if code != status:
        raise AssertionError(f"error response {status}: error.code is {code!r}, not {status}")

"""The OpenAPI document says what the server does (schemathesis checks it against a running
daemon in test_api_schemathesis.py; these are the promises that need no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler.models import RunState
from scheduler.web.ui import STATIC_DIR

DOCUMENT: dict[str, Any] = json.loads((STATIC_DIR / "openapi.json").read_text())
OPERATIONS = [
    (path, method, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


def follow(reference: str) -> dict[str, Any]:
    node: Any = DOCUMENT
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def test_authentication_is_optional() -> None:
    # Without a token_file (loopback) no Authorization header is needed.
    assert DOCUMENT["security"] == [{}, {"bearer": []}]
    assert DOCUMENT["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for _, _, operation in OPERATIONS:
        names = [p["name"].lower() for p in operation.get("parameters", [])]
        assert "authorization" not in names


def test_run_states_are_the_servers() -> None:
    states = [state.value for state in RunState]
    assert DOCUMENT["components"]["schemas"]["RunState"]["enum"] == states
    listing = DOCUMENT["paths"]["/api/v1/runs"]["get"]["parameters"]
    state = next(p for p in listing if p["name"] == "state")
    assert state["schema"]["items"] == {"$ref": "#/components/schemas/RunState"}
    assert (state["style"], state["explode"]) == ("form", False)  # comma-separated


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    OPERATIONS,
    ids=[f"{method.upper()} {path}" for path, method, _ in OPERATIONS],
)
def test_every_error_answer_has_the_error_shape(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    assert operation["operationId"]
    codes = set(operation["responses"])
    assert "421" in codes  # a foreign Host without a token, on every path
    if path.startswith("/api/"):
        assert {"401", "403"} <= codes
    if method == "post":
        assert {"400", "413", "415"} <= codes
    for code, response in operation["responses"].items():
        if code.startswith("2"):
            continue
        answer = follow(response["$ref"]) if "$ref" in response else response
        schema = answer["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, (code, answer)
    error = DOCUMENT["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "details"]
    assert error["additionalProperties"] is False

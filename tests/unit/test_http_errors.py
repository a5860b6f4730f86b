"""The HTTP status of each Manager error (src/codex_manager_http/errors.py): a runtime
failure is 502 (upstream), never 500; codex not logged in is 409 without WWW-Authenticate
(401 and that header mean a missing server token)."""

from __future__ import annotations

import pytest

from codex_manager_core.errors import (
    AuthRequired,
    CallTimeout,
    InvalidInput,
    InvalidState,
    ManagerError,
    MethodNotSupported,
    RuntimeCallFailed,
    TurnInProgress,
)
from codex_manager_http.errors import manager_error_response


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RuntimeCallFailed("codex app-server failed 'feedback/upload': dns"), 502, "codex_error"),
        (AuthRequired("codex is not logged in"), 409, "codex_auth_required"),
        (CallTimeout("thread/read", 5.0), 504, "codex_timeout"),
        (InvalidInput("bad cwd", code="invalid_params"), 400, "invalid_params"),
        (InvalidState("refused"), 409, "invalid_state"),
        (MethodNotSupported("x/y"), 501, "method_not_supported"),
        (TurnInProgress("s1", "t1"), 409, "invalid_state"),
    ],
)
def test_status_of_each_error(error: ManagerError, status: int, code: str) -> None:
    response = manager_error_response(error)
    assert response.status_code == status
    body = response.content
    assert isinstance(body, dict)
    assert body["code"] == code
    assert body["message"] == error.message
    assert "www-authenticate" not in {name.lower() for name in response.headers}


def test_turn_in_progress_names_the_turn_and_how_to_steer() -> None:
    body = manager_error_response(TurnInProgress("s1", "t1")).content
    assert isinstance(body, dict)
    assert body["details"] == {"activeTurnId": "t1"}
    assert "/api/sessions/s1/turns/t1/steer" in body["message"]

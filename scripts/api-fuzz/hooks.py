"""Schemathesis hooks for ./scripts/api-fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Adds the project's own check: every error response (status >= 400) is the one JSON envelope
`{"error":{"code","message","details"}}` of src/http/error.rs, with nothing else beside it.
"""

import json

import schemathesis


@schemathesis.check
def error_envelope(ctx, response, case):
    """Every 4xx/5xx answer is {"error":{"code":str,"message":str,"details":object}}."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if not ctype.lower().startswith("application/json"):
        raise AssertionError(
            f"error response {response.status_code} is {ctype!r}, not application/json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"error response {response.status_code} is not JSON: {e}")
    if not isinstance(body, dict) or set(body) != {"error"}:
        raise AssertionError(f"error response is not {{\"error\": …}} alone: {body!r:.300}")
    err = body["error"]
    if not isinstance(err, dict) or set(err) != {"code", "message", "details"}:
        raise AssertionError(f"error object needs exactly code, message, details: {err!r:.300}")
    if not isinstance(err["code"], str) or not err["code"]:
        raise AssertionError(f"error.code is not a non-empty string: {err['code']!r}")
    if not isinstance(err["message"], str):
        raise AssertionError(f"error.message is not a string: {err['message']!r}")
    if not isinstance(err["details"], dict):
        raise AssertionError(f"error.details is not an object: {err['details']!r:.300}")
    return None

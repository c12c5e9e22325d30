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


def _whole_floats_as_integers(value):
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_whole_floats_as_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_floats_as_integers(v) for k, v in value.items()}
    return value


@schemathesis.hook
def map_body(context, body):
    """Spells whole floats in generated JSON bodies as integers (`1.0` -> `1`).

    JSON Schema counts `1.0` as an `integer`, so Schemathesis draws such spellings for integer
    fields; the Worker takes money, quantities and counts only in integer spelling (serde refuses
    `1.0` for an integer with 400 INVALID_REQUEST, by design), which a schema cannot say. The value
    is the same under JSON Schema either way, so no case changes validity.
    """
    return _whole_floats_as_integers(body)

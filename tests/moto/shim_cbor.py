"""Patch (p) `rpc-v2-cbor`: CloudWatch over the Smithy RPC v2 CBOR protocol.

AWS: CloudWatch speaks `smithy-rpc-v2-cbor` (and awsJson1_0 and awsQuery). The Rust SDK
(aws-sdk-cloudwatch 1.140) and botocore 1.44 send only CBOR: `POST
/service/GraniteServiceVersion20100801/operation/<Op>`, header `smithy-protocol:
rpc-v2-cbor`, a CBOR body, timestamps as CBOR tag 1 (epoch seconds).

moto 5.2.5: parses only JSON and query requests; a CBOR request finds no route (404), so
no CloudWatch call works at all.

Patch: at the WSGI layer, a CBOR request is rewritten as the equivalent awsJson1_0
request (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`), handed to moto, and moto's
JSON answer (or error, `__type`) is encoded back into CBOR along the operation's output
shape (timestamps tagged), with `smithy-protocol: rpc-v2-cbor`. Only services whose
model lists the CBOR protocol are translated.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import re
from typing import Any, Callable

import botocore.session
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

PATH_RE = re.compile(r"^/service/([A-Za-z0-9_]+)/operation/([A-Za-z0-9_]+)$")

_SESSION = botocore.session.get_session()
_MODELS: dict[str, Any] = {}
# The SigV4 signing name of each service the shim translates → botocore's model name.
SIGNING_NAMES = {"monitoring": "cloudwatch"}


def is_cbor(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "") or ""
    return (
        environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor"
        and PATH_RE.match(path) is not None
    )


def operation_of(environ: dict[str, Any]) -> str | None:
    m = PATH_RE.match(environ.get("PATH_INFO", "") or "")
    return m.group(2) if m else None


def _model(service: str) -> Any:
    if service not in _MODELS:
        _MODELS[service] = _SESSION.get_service_model(SIGNING_NAMES.get(service, service))
    return _MODELS[service]


def decode(body: bytes) -> Any:
    if not body:
        return {}
    parser = RpcV2CBORParser()
    return parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))


def _jsonable(value: Any) -> Any:
    """CBOR-decoded request values → awsJson1_0 values (timestamps as epoch seconds)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    return value


def _from_json(value: Any, shape: Any) -> Any:
    """moto's JSON answer → values botocore's CBOR serializer takes, along the shape."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            k: _from_json(v, shape.members.get(k))
            for k, v in value.items()
            if k in shape.members and v is not None
        }
    if kind == "list":
        return [_from_json(v, shape.member) for v in value]
    if kind == "map":
        return {k: _from_json(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            return _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc)
        return value
    return value


def encode(value: Any, shape: Any) -> bytes:
    out = bytearray()
    RpcV2CBORSerializer()._serialize_data_item(out, _from_json(value, shape), shape)
    return bytes(out)


def _encode_error(payload: dict[str, Any]) -> bytes:
    """An rpc-v2-cbor error body: a map of strings (`__type`, `message`)."""
    ser = RpcV2CBORSerializer()
    fields = {k: str(v) for k, v in payload.items() if v is not None}
    out = bytearray(ser._get_initial_byte(ser.MAP_MAJOR_TYPE, len(fields)))  # < 24 entries
    for k, v in fields.items():
        ser._serialize_type_string(out, k, None, None)
        ser._serialize_type_string(out, v, None, None)
    return bytes(out)


# kind -> (HTTP status, `__type`, message) of an injected error (`shim_faults.ERRORS`),
# as the JSON and CBOR protocols name AWS's common errors.
ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "500": (500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."),
    "503": (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
}


def respond_error(start_response: Any, kind: str) -> tuple[int, list[bytes]]:
    """An injected fault answered in rpc-v2-cbor (CloudWatch), as `translate` answers
    moto's own errors."""
    status, error_type, message = ERRORS[kind]
    out = _encode_error({"__type": error_type, "message": message})
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("Content-Length", str(len(out)))],
    )
    return status, [out]


def translate(
    environ: dict[str, Any], start_response: Any, service: str | None, inner: Callable[..., Any]
) -> Any:
    """Answer one CBOR request through moto's JSON protocol."""
    m = PATH_RE.match(environ.get("PATH_INFO", "") or "")
    assert m is not None
    target, operation = m.group(1), m.group(2)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    params = _jsonable(decode(body))
    json_body = json.dumps(params).encode("utf-8")

    environ = dict(environ)
    environ["PATH_INFO"] = "/"
    environ["RAW_URI"] = "/"
    environ["REQUEST_URI"] = "/"
    environ["CONTENT_TYPE"] = "application/x-amz-json-1.0"
    environ["HTTP_X_AMZ_TARGET"] = f"{target}.{operation}"
    environ["CONTENT_LENGTH"] = str(len(json_body))
    environ["wsgi.input"] = io.BytesIO(json_body)
    environ.pop("HTTP_SMITHY_PROTOCOL", None)

    captured: dict[str, Any] = {}

    def capture(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"] = status
        captured["headers"] = headers
        return lambda _data: None

    chunks = inner(environ, capture)
    try:
        raw = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    status = captured.get("status", "500 Internal Server Error")
    code = int(status.split(" ", 1)[0])
    try:
        answer = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        answer = {"__type": "InternalFailure", "message": raw.decode("utf-8", "replace")[:500]}
    if code < 300:
        shape = _model(service or "monitoring").operation_model(operation).output_shape
        out = encode(answer, shape) if shape is not None else b"\xa0"
    else:
        error_type = str(answer.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
        out = _encode_error({"__type": error_type, "message": answer.get("message") or answer.get("Message")})
    headers = [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(out))),
    ]
    for name, value in captured.get("headers", []):
        if name.lower() in ("x-amzn-requestid", "x-amz-request-id"):
            headers.append((name, value))
    start_response(status, headers)
    return [out]

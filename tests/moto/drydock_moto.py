#!/usr/bin/env python3
"""drydock's moto fidelity shim.

Runs moto (5.2.5, from <repo>/.venv) in server mode with a few in-process
monkeypatches that make it behave like AWS where drydock's blue/green deploy
depends on it, plus a small control API and a request recorder for tests.

Usage:
    .venv/bin/python tests/moto/drydock_moto.py [--host 127.0.0.1] [--port 0] [--stock] [--verbose]

Once listening it prints exactly one line ``READY <port>`` to stdout, then
serves until SIGTERM/SIGINT and exits 0.  Everything else goes to stderr.

``--stock`` leaves moto unpatched (the request recorder and
``/drydock-shim/requests`` stay available, ``/drydock-shim/unhealthy`` does
not).  See README.md next to this file for the AWS-vs-moto details.

Control API (not recorded, JSON in and out):
    GET    /drydock-shim/info        {"stock": bool, "moto": "5.2.5", "patches": [...]}
    GET    /drydock-shim/requests    recorded AWS requests [{"service","action","t","client"}, ...]
    DELETE /drydock-shim/requests    clear the recorder
    POST   /drydock-shim/unhealthy   {"amis": [...], "instances": [...], "description": "..."}
    GET    /drydock-shim/unhealthy   current unhealthy set
    DELETE /drydock-shim/unhealthy   clear the unhealthy set
    POST   /drydock-shim/hold        {"action": "CreateAutoScalingGroup"[, "after": "Action"]}
    GET    /drydock-shim/hold        {"action", "after", "armed", "held": N}
    DELETE /drydock-shim/hold        release: held requests answer 503, unprocessed
    POST   /moto-api/reset           (moto's own) also clears the recorder, the unhealthy
                                     set and the hold
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from shim_patches import PATCHES
from shim_state import DEFAULT_UNHEALTHY_DESCRIPTION, HOLD, STATE

CONTROL_PREFIX = "/drydock-shim"
EXPECTED_MOTO = "5.2.5"

log = logging.getLogger("drydock_moto")


def apply_patches() -> list[str]:
    for _, patch in PATCHES:
        patch()
    return [name for name, _ in PATCHES]



# --------------------------------------------------------------------------
# WSGI wrapper: control API + request recorder.
# --------------------------------------------------------------------------
_CREDENTIAL_RE = re.compile(r"Credential=([^,\s]+)")


def _service_from_credential(credential: str) -> str | None:
    # <key id>/<yyyymmdd>/<region>/<service>/aws4_request
    parts = credential.split("/")
    if len(parts) >= 5 and parts[-1] == "aws4_request":
        return parts[-2]
    return None


def _read_form_body(environ: dict[str, Any]) -> bytes | None:
    """Read an x-www-form-urlencoded body and put it back for moto."""
    if not environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return None
    stream = environ.get("wsgi.input")
    if stream is None:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def describe_request(environ: dict[str, Any]) -> dict[str, Any]:
    service = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    m = _CREDENTIAL_RE.search(auth)
    if m:
        service = _service_from_credential(m.group(1))
    elif "X-Amz-Credential" in query:
        service = _service_from_credential(query["X-Amz-Credential"][0])

    action = query.get("Action", [None])[0]
    if action is None:
        body = _read_form_body(environ)
        if body:
            form = parse_qs(body.decode("utf-8", "replace"))
            action = form.get("Action", [None])[0]
    if action is None:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            action = target.rsplit(".", 1)[-1]
    # The client: drydock (the Rust SDK) or a test/guest script (boto3), so that tests
    # and benchmarks can count drydock's own requests.
    agent = environ.get("HTTP_USER_AGENT", "")
    if "app/drydock-tests" in agent:
        client = "test"
    elif "aws-sdk-rust" in agent:
        client = "drydock"
    elif "Boto3" in agent or "Botocore" in agent:
        client = "boto3"
    else:
        client = "other"
    return {"service": service, "action": action, "t": time.time(), "client": client}


class ShimApp:
    def __init__(self, inner: Callable[..., Any], patches: list[str]) -> None:
        self.inner = inner
        self.patches = patches

    @property
    def stock(self) -> bool:
        return not self.patches

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "") or ""
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control(environ, start_response, path)
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/moto-api"):
            if method == "POST" and path.rstrip("/") == "/moto-api/reset":
                STATE.reset()
                HOLD.release()
        elif not path.startswith("/latest/"):  # instance metadata is not an API call
            entry = describe_request(environ)
            STATE.record(entry)
            if HOLD.check(entry["action"]):
                return _held_response(start_response, entry["service"], entry["action"])
        return self.inner(environ, start_response)

    # -- control API -------------------------------------------------------
    def control(self, environ: dict[str, Any], start_response: Any, path: str) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        route = path[len(CONTROL_PREFIX):].rstrip("/")
        try:
            if route == "/info" and method == "GET":
                from moto import __version__ as moto_version

                return _json(start_response, 200, {
                    "stock": self.stock,
                    "moto": moto_version,
                    "patches": self.patches,
                })
            if route == "/requests":
                if method == "GET":
                    return _json(start_response, 200, STATE.recorded())
                if method == "DELETE":
                    return _json(start_response, 200, {"cleared": STATE.clear_requests()})
                return _json(start_response, 405, {"error": f"{method} not allowed"})
            if route == "/unhealthy":
                if self.stock:
                    return _json(start_response, 404, {
                        "error": "fidelity patches are disabled (--stock)"
                    })
                if method == "GET":
                    return _json(start_response, 200, STATE.unhealthy_snapshot())
                if method == "DELETE":
                    STATE.clear_unhealthy()
                    return _json(start_response, 200, STATE.unhealthy_snapshot())
                if method == "POST":
                    body = _read_json(environ)
                    amis = _str_list(body, "amis")
                    instances = _str_list(body, "instances")
                    description = body.get("description") or DEFAULT_UNHEALTHY_DESCRIPTION
                    if not isinstance(description, str):
                        raise ValueError("description must be a string")
                    STATE.mark_unhealthy(amis, instances, description)
                    return _json(start_response, 200, STATE.unhealthy_snapshot())
                return _json(start_response, 405, {"error": f"{method} not allowed"})
            if route == "/hold":
                if method == "GET":
                    return _json(start_response, 200, HOLD.snapshot())
                if method == "DELETE":
                    released = HOLD.release()
                    return _json(start_response, 200, {**HOLD.snapshot(), "released": released})
                if method == "POST":
                    body = _read_json(environ)
                    action = body.get("action")
                    after = body.get("after")
                    if not isinstance(action, str) or not action:
                        raise ValueError("action must be a non-empty string")
                    if after is not None and (not isinstance(after, str) or not after):
                        raise ValueError("after must be a non-empty string")
                    HOLD.set(action, after)
                    return _json(start_response, 200, HOLD.snapshot())
                return _json(start_response, 405, {"error": f"{method} not allowed"})
        except ValueError as e:
            return _json(start_response, 400, {"error": str(e)})
        return _json(start_response, 404, {"error": f"no such endpoint: {method} {path}"})


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    raw = stream.read(length) if length > 0 else stream.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON body: {e}") from e
    if not isinstance(body, dict):
        raise ValueError("JSON body must be an object")
    return body


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return value


def _held_response(start_response: Any, service: str | None, action: str | None) -> list[bytes]:
    """HTTP 503 in the service's query-protocol error shape (EC2's differs)."""
    message = f"{action} was held by the drydock shim and not processed"
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>ServiceUnavailable</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>drydock-shim-hold</RequestID></Response>"
        )
    else:
        body = (
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
            f"<Message>{message}</Message></Error>"
            "<RequestId>drydock-shim-hold</RequestId></ErrorResponse>"
        )
    data = body.encode()
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _json(start_response: Any, status: int, payload: Any) -> list[bytes]:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    data = json.dumps(payload).encode()
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one (default)")
    parser.add_argument("--stock", action="store_true", help="do not apply the fidelity patches")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="drydock_moto: %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import moto
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    if moto.__version__ != EXPECTED_MOTO:
        log.warning(
            "moto %s is installed but the shim was written for %s; run tests/moto/venv.sh",
            moto.__version__,
            EXPECTED_MOTO,
        )

    patches = [] if args.stock else apply_patches()
    app = ShimApp(DomainDispatcherApplication(create_backend_app), patches)
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    log.info("serving on %s:%d (%s)", args.host, port, "stock" if args.stock else "patched")

    while not stop.wait(0.5):
        if not thread.is_alive():
            log.error("server thread died")
            return 1
    HOLD.release()  # held request threads answer and end
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

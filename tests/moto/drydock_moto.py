#!/usr/bin/env python3
"""drydock's moto fidelity shim.

Runs moto (5.2.5, from <repo>/.venv) in server mode with in-process monkeypatches
that make it behave like AWS where drydock's blue/green deploy depends on it, an
optional "world" (AWS time, throttling, eventual consistency, injected faults), a
small control API and a request recorder for tests.

Usage:
    .venv/bin/python tests/moto/drydock_moto.py [--host 127.0.0.1] [--port 0] [--stock]
        [--verbose] [--time-scale S] [--boot SECONDS] [--launch SECONDS]
        [--stopping SECONDS] [--image-pending SECONDS] [--throttle [aws|family|api]]
        [--consistency-ms MS]

Once listening it prints exactly one line ``READY <port>`` to stdout, then
serves until SIGTERM/SIGINT and exits 0.  Everything else goes to stderr.

``--stock`` leaves moto unpatched (the recorder, the hold, faults and throttling
stay available; ``/drydock-shim/unhealthy``, time and consistency do not).
README.md next to this file documents the AWS-vs-moto details, every flag and
every endpoint.

Control API (not recorded, JSON in and out):
    GET    /drydock-shim/info        {"stock", "moto", "patches", "world"}
    GET    /drydock-shim/requests    recorded AWS requests [{"service", "action", "t",
                                     "client", "key", "status", "throttled", "fault"}];
                                     drydock's also carry "region", "account", "params"
                                     (the query/form parameters) and "resources" (each
                                     resource the request names, with its tags before the
                                     request: for the IAM policy test)
    DELETE /drydock-shim/requests    clear the recorder
    GET    /drydock-shim/stats       per-client summary (?by=key|client|service)
    POST   /drydock-shim/unhealthy   {"amis": [...], "instances": [...], "description": "..."}
    GET    /drydock-shim/unhealthy   current unhealthy set
    DELETE /drydock-shim/unhealthy   clear the unhealthy set
    POST   /drydock-shim/hold        {"action": "CreateAutoScalingGroup"[, "after": "Action"]}
    GET    /drydock-shim/hold        {"action", "after", "armed", "held": N}
    DELETE /drydock-shim/hold        release: held requests answer 503, unprocessed
    POST   /drydock-shim/world       {"time_scale", "boot", "launch", "stopping",
                                     "image_pending", "throttle", "consistency_ms"} (any)
    GET    /drydock-shim/world       the world settings and its clock
    POST   /drydock-shim/faults      {"rules": [{"actions", "services", "clients", "rate",
                                     "kind", "delay_ms", "count"}], "seed": N}
    GET    /drydock-shim/faults      the rules with their injection counts, and the seed
    DELETE /drydock-shim/faults      clear the rules
    POST   /moto-api/reset           (moto's own) also clears the recorder, the unhealthy
                                     set, the hold, the faults, the throttle buckets
                                     and pending tag writes (the world settings stay)
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs

import shim_cbor
import shim_consistency
from shim_aws import (
    patch_asg_filter_value_limit,
    patch_asg_names_limit,
    patch_asg_size_limits,
    patch_client_token_idempotency,
    patch_image_name_duplicate,
    patch_image_tag_specifications,
    patch_launch_template_tags,
)
from shim_faults import BUCKETS, FAULTS, THROTTLED_SERVICES, respond_error
from shim_patches import PATCHES
from shim_scaling import PATCHES as SCALING_PATCHES
from shim_speed import PATCHES as SPEED_PATCHES
from shim_state import DEFAULT_UNHEALTHY_DESCRIPTION, HOLD, STATE
from shim_world import WORLD, apply_world_patches

CONTROL_PREFIX = "/drydock-shim"
EXPECTED_MOTO = "5.2.5"

log = logging.getLogger("drydock_moto")

ALL_PATCHES: list[tuple[str, Callable[[], None]]] = PATCHES + [
    ("launch-template-tags", patch_launch_template_tags),
    ("client-token-idempotency", patch_client_token_idempotency),
    ("image-name-duplicate", patch_image_name_duplicate),
    ("asg-size-limits", patch_asg_size_limits),
    ("asg-filter-value-limit", patch_asg_filter_value_limit),
    ("asg-names-limit", patch_asg_names_limit),
    ("image-tag-specifications", patch_image_tag_specifications),
    # (p) is a WSGI-level translation (ShimApp.aws, shim_cbor.py): nothing to patch in moto.
    ("rpc-v2-cbor", lambda: None),
] + SCALING_PATCHES + SPEED_PATCHES


def apply_patches() -> list[str]:
    """The fidelity patches, then the (inert until switched on) world hooks."""
    for _, patch in ALL_PATCHES:
        patch()
    apply_world_patches()
    shim_consistency.apply_consistency_patches()
    return [name for name, _ in ALL_PATCHES]


# --------------------------------------------------------------------------
# Requests: who sent what
# --------------------------------------------------------------------------
_CREDENTIAL_RE = re.compile(r"Credential=([^,\s]+)")


def _credential_parts(credential: str) -> tuple[str | None, str | None]:
    # <key id>/<yyyymmdd>/<region>/<service>/aws4_request -> (key id, service)
    parts = credential.split("/")
    if len(parts) >= 5 and parts[-1] == "aws4_request":
        return "/".join(parts[:-4]) or None, parts[-2]
    return None, None


# The request parameters that name the resource a request acts on, in order of preference.
NAME_PARAMS = (
    "LaunchTemplateName",
    "AutoScalingGroupName",
    "AutoScalingGroupNames.member.1",
    "LoadBalancerName",
    "LoadBalancerNames.member.1",
    "Tags.member.1.ResourceId",
    "ImageId",
    "SourceImageId",
    "InstanceId.1",
    "LaunchTemplateId",
    "ResourceId.1",
    "SnapshotId",
    "GroupName",
    "GroupId",
)


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


def _region(credential: str) -> str | None:
    # <key id>/<yyyymmdd>/<region>/<service>/aws4_request -> region
    parts = credential.split("/")
    return parts[-3] if len(parts) >= 5 and parts[-1] == "aws4_request" else None


def _tag_list(tags: Any) -> dict[str, str]:
    """ASG tags ([{"Key", "Value", ...}]) as a dict."""
    out: dict[str, str] = {}
    for t in tags or []:
        k = t.get("Key") or t.get("key")
        if k is not None:
            out[k] = t.get("Value", t.get("value", "")) or ""
    return out


def _launch_data(template: Any) -> dict[str, Any]:
    """What a launch from this template asks for: the instance and volume tags of its
    TagSpecifications, IMDS tokens and EBS encryption (version 1: drydock never uses
    another)."""
    try:
        data = template.get_version(1).data
    except Exception:  # noqa: BLE001 -- best effort for the test recorder
        data = template.latest_version().data
    by_type: dict[str, dict[str, str]] = {}
    for spec in data.get("TagSpecifications", []) or data.get("TagSpecification", []) or []:
        by_type.setdefault(spec.get("ResourceType", ""), {}).update(_tag_list(spec.get("Tags") or spec.get("Tag")))
    meta = data.get("MetadataOptions") or {}
    bdms = data.get("BlockDeviceMappings") or data.get("BlockDeviceMapping") or []
    encrypted = bool(bdms) and all(
        str((b.get("Ebs") or {}).get("Encrypted", "false")).lower() == "true" for b in bdms
    )
    return {
        "instance_tags": by_type.get("instance", {}),
        "volume_tags": by_type.get("volume", {}),
        "http_tokens": str(meta.get("HttpTokens", "optional")),
        "encrypted": encrypted,
    }


def _resources(service: str | None, params: dict[str, str], account: str, region: str) -> list[dict[str, Any]]:
    """Each resource a drydock request names, with its tags as they are *before* the
    request (for the IAM policy test: what `aws:ResourceTag` would see)."""
    out: list[dict[str, Any]] = []
    try:
        if service == "ec2":
            from moto.ec2.models import ec2_backends

            b = ec2_backends[account][region]
            refs = [v for k, v in params.items()
                    if re.fullmatch(r"(ResourceId|InstanceId)\.\d+", k)
                    or k in ("InstanceId", "ImageId", "SnapshotId", "LaunchTemplateId", "GroupId")]
            for ref in refs:
                out.append({"kind": "ec2", "ref": ref, "id": ref, "tags": dict(b.tags.get(ref, {}))})
            name = params.get("LaunchTemplateName")
            if name is not None:
                lt_id = b.launch_template_name_to_ids.get(name)
                out.append({"kind": "launch-template", "ref": name, "id": lt_id,
                            "tags": dict(b.tags.get(lt_id, {})) if lt_id else {}})
        elif service == "autoscaling":
            from moto.autoscaling.models import autoscaling_backends
            from moto.ec2.models import ec2_backends

            ab = autoscaling_backends[account][region]
            names = [v for k, v in params.items()
                     if k == "AutoScalingGroupName" or re.fullmatch(r"Tags\.member\.\d+\.ResourceId", k)]
            for name in dict.fromkeys(names):
                group = ab.autoscaling_groups.get(name)
                out.append({"kind": "auto-scaling-group", "ref": name, "id": name,
                            "tags": _tag_list(group.tags) if group else {}})
            lt_name = params.get("LaunchTemplate.LaunchTemplateName")
            if lt_name is not None:
                b = ec2_backends[account][region]
                lt_id = b.launch_template_name_to_ids.get(lt_name)
                entry: dict[str, Any] = {"kind": "launch-template", "ref": lt_name, "id": lt_id,
                                         "tags": dict(b.tags.get(lt_id, {})) if lt_id else {}}
                if lt_id:
                    entry["launch"] = _launch_data(b.launch_templates[lt_id])
                out.append(entry)
        elif service == "elasticloadbalancing":
            from moto.elb.models import elb_backends

            eb = elb_backends[account][region]
            names = [v for k, v in params.items()
                     if k == "LoadBalancerName" or re.fullmatch(r"LoadBalancerNames\.member\.\d+", k)]
            for name in dict.fromkeys(names):
                lb = eb.load_balancers.get(name)
                out.append({"kind": "load-balancer", "ref": name, "id": name, "tags": dict(lb.tags) if lb else {}})
    except Exception as e:  # noqa: BLE001 -- the recorder must never break a request
        out.append({"error": f"{type(e).__name__}: {e}"})
    return out


def describe_request(environ: dict[str, Any]) -> dict[str, Any]:
    """The recorder's entry for one AWS request; status/throttled/fault are filled in
    as it is answered."""
    service = key = region = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    m = _CREDENTIAL_RE.search(auth)
    if m:
        key, service = _credential_parts(m.group(1))
        region = _region(m.group(1))
    elif "X-Amz-Credential" in query:
        key, service = _credential_parts(query["X-Amz-Credential"][0])
        region = _region(query["X-Amz-Credential"][0])

    params = {k: v[0] for k, v in query.items()}
    form: dict[str, list[str]] = {}
    body = _read_form_body(environ)
    if body:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
    action = params.get("Action")
    if action is None:
        action = shim_cbor.operation_of(environ)
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
    # What the request acts on, so that a test can tell drydock's lease lock (a security
    # group named drydock-lock-…) from a release's resources, and the like.
    name = None
    for param in NAME_PARAMS:
        value = (form.get(param) or query.get(param) or [None])[0]
        if value:
            name = value
            break
    entry: dict[str, Any] = {
        "service": service,
        "action": action,
        "name": name,
        "t": time.time(),
        "client": client,
        "key": key,
        "status": None,
        "throttled": False,
        "fault": None,
    }
    if client == "drydock" and region:
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(key or "")
        entry.update({
            "region": region,
            "account": account,
            "params": params,
            "resources": _resources(service, params, account, region),
        })
    return entry


class Dropped(ConnectionAbortedError):
    """Raised after a ``drop`` fault closed the socket: werkzeug then sends nothing."""


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
                FAULTS.clear()
                BUCKETS.reset()
                shim_consistency.TAGS.reset()
            return self.inner(environ, start_response)
        if path.startswith("/latest/"):  # instance metadata is not an API call
            return self.inner(environ, start_response)
        return self.aws(environ, start_response)

    def aws(self, environ: dict[str, Any], start_response: Any) -> Any:
        """One AWS request: record, hold, faults, throttling, then moto."""
        entry = describe_request(environ)
        STATE.record(entry)
        service, action = entry["service"], entry["action"]

        def answered(status: int, throttled: bool = False, fault: str | None = None) -> None:
            with STATE.lock:
                entry.update(status=status, throttled=throttled or entry["throttled"])
                if fault is not None:
                    entry["fault"] = fault

        if HOLD.check(action):
            answered(503, fault="hold")
            return _held_response(start_response, service, action)
        shim_consistency.TAGS.apply_due()

        rule = FAULTS.pick(entry)
        kind = rule["kind"] if rule else None
        if kind in ("throttle", "500", "503"):
            # CloudWatch speaks CBOR: its faults are answered in CBOR too.
            if not self.stock and shim_cbor.is_cbor(environ):
                status, body = shim_cbor.respond_error(start_response, kind)
            else:
                status, body = respond_error(start_response, service, kind)
            answered(status, throttled=kind == "throttle", fault=kind)
            return body
        if kind is not None:
            with STATE.lock:
                entry["fault"] = kind
        if kind == "delay":
            time.sleep((rule["delay_ms"] or 0) / 1000.0)

        if WORLD.throttle and service in THROTTLED_SERVICES:
            if not BUCKETS.take(service, action, WORLD.throttle):
                status, body = respond_error(start_response, service, "throttle")
                answered(status, throttled=True)
                return body

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                code = int(status.split(" ", 1)[0])
            except ValueError:
                code = None
            if kind != "drop":
                answered(code)  # type: ignore[arg-type]
                return start_response(status, headers, exc_info)
            return lambda _data: None

        shim_consistency.set_context(service, action)
        try:
            if not self.stock and shim_cbor.is_cbor(environ):
                result = shim_cbor.translate(environ, recording_start_response, service, self.inner)
            else:
                result = self.inner(environ, recording_start_response)
            if kind != "drop":
                return result
            # drop: moto processed the request; the client gets no answer at all.
            for _ in result:
                pass
            if hasattr(result, "close"):
                result.close()
        finally:
            shim_consistency.clear_context()
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise Dropped("response dropped by the drydock shim")

    # -- control API -------------------------------------------------------
    def control(self, environ: dict[str, Any], start_response: Any, path: str) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        route = path[len(CONTROL_PREFIX):].rstrip("/")
        handler = {
            "/info": self._info,
            "/requests": self._requests,
            "/stats": self._stats,
            "/unhealthy": self._unhealthy,
            "/hold": self._hold,
            "/world": self._world,
            "/faults": self._faults,
        }.get(route)
        if handler is None:
            return _json(start_response, 404, {"error": f"no such endpoint: {method} {path}"})
        try:
            status, payload = handler(method, environ)
        except ValueError as e:
            status, payload = 400, {"error": str(e)}
        return _json(start_response, status, payload)

    def _info(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if method != "GET":
            return _not_allowed(method)
        from moto import __version__ as moto_version

        return 200, {
            "stock": self.stock,
            "moto": moto_version,
            "patches": self.patches,
            "world": WORLD.snapshot(),
        }

    def _requests(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            return 200, STATE.recorded()
        if method == "DELETE":
            return 200, {"cleared": STATE.clear_requests()}
        return _not_allowed(method)

    def _stats(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if method != "GET":
            return _not_allowed(method)
        by = parse_qs(environ.get("QUERY_STRING", "")).get("by", ["key"])[0]
        if by not in ("key", "client", "service"):
            raise ValueError("by must be key, client or service")
        return 200, STATE.stats(by)

    def _unhealthy(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if self.stock:
            return 404, {"error": "fidelity patches are disabled (--stock)"}
        if method == "GET":
            return 200, STATE.unhealthy_snapshot()
        if method == "DELETE":
            STATE.clear_unhealthy()
            return 200, STATE.unhealthy_snapshot()
        if method == "POST":
            body = _read_json(environ)
            amis = _str_list(body, "amis")
            instances = _str_list(body, "instances")
            description = body.get("description") or DEFAULT_UNHEALTHY_DESCRIPTION
            if not isinstance(description, str):
                raise ValueError("description must be a string")
            STATE.mark_unhealthy(amis, instances, description)
            return 200, STATE.unhealthy_snapshot()
        return _not_allowed(method)

    def _hold(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            return 200, HOLD.snapshot()
        if method == "DELETE":
            released = HOLD.release()
            return 200, {**HOLD.snapshot(), "released": released}
        if method == "POST":
            body = _read_json(environ)
            action = body.get("action")
            after = body.get("after")
            if not isinstance(action, str) or not action:
                raise ValueError("action must be a non-empty string")
            if after is not None and (not isinstance(after, str) or not after):
                raise ValueError("after must be a non-empty string")
            HOLD.set(action, after)
            return 200, HOLD.snapshot()
        return _not_allowed(method)

    def _world(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            return 200, WORLD.snapshot()
        if method == "POST":
            body = _read_json(environ)
            WORLD.update(body)
            if "throttle" in body:
                BUCKETS.reset()  # (re)starting throttling starts with full buckets
            shim_consistency.TAGS.apply_due()  # consistency switched off: catch up
            return 200, WORLD.snapshot()
        return _not_allowed(method)

    def _faults(self, method: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            return 200, FAULTS.snapshot()
        if method == "DELETE":
            FAULTS.clear()
            return 200, FAULTS.snapshot()
        if method == "POST":
            FAULTS.set(_read_json(environ))
            return 200, FAULTS.snapshot()
        return _not_allowed(method)


def _not_allowed(method: str) -> tuple[int, Any]:
    return 405, {"error": f"{method} not allowed"}


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
def _throttle_flag(value: str) -> str:
    if value not in ("aws", "family", "api"):
        raise argparse.ArgumentTypeError("must be aws, family or api")
    return value


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from e
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError("must be a finite number >= 0")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one (default)")
    parser.add_argument("--stock", action="store_true", help="do not apply the fidelity patches")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    world = parser.add_argument_group("world (all off by default; see README.md)")
    world.add_argument("--time-scale", type=_seconds, default=0.0, metavar="S",
                       help="AWS seconds per real second; 0 (default) = instant world")
    world.add_argument("--boot", type=_seconds, default=90.0, metavar="SECONDS",
                       help="AWS seconds from running until the service answers (default 90)")
    world.add_argument("--launch", type=_seconds, default=10.0, metavar="SECONDS",
                       help="AWS seconds pending -> running / Pending -> InService (default 10)")
    world.add_argument("--stopping", type=_seconds, default=10.0, metavar="SECONDS",
                       help="AWS seconds stopping -> stopped (default 10)")
    world.add_argument("--image-pending", type=_seconds, default=30.0, metavar="SECONDS",
                       help="AWS seconds a new image stays pending (default 30)")
    world.add_argument("--throttle", nargs="?", const="aws", default=None, type=_throttle_flag,
                       metavar="family|api", help="AWS request-rate limits (token buckets)")
    world.add_argument("--consistency-ms", type=_seconds, default=0.0, metavar="MS",
                       help="eventual-consistency window in real milliseconds (default 0)")
    args = parser.parse_args(argv)
    if args.stock and (args.time_scale or args.consistency_ms):
        parser.error("--time-scale and --consistency-ms need the fidelity patches (not --stock)")

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

    WORLD.stock = args.stock
    WORLD.update({
        "time_scale": args.time_scale,
        "boot": args.boot,
        "launch": args.launch,
        "stopping": args.stopping,
        "image_pending": args.image_pending,
        "throttle": args.throttle,
        "consistency_ms": args.consistency_ms,
    })
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

    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="moto", daemon=True
    )
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

"""Request-level faults: AWS request throttling (token buckets) and injected faults.

Both act in the WSGI wrapper before moto sees a request (``drop`` and ``delay``
around it), and answer in each service's own error format.  See README.md.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from shim_world import WORLD

THROTTLED_SERVICES = ("ec2", "autoscaling", "elasticloadbalancing")
# Faults can hit CloudWatch too (drydock's alarm gates; answered in CBOR, `shim_cbor`).
FAULTY_SERVICES = THROTTLED_SERVICES + ("monitoring",)

# Token bucket (burst, refill per AWS second) of each API family.  EC2's numbers are
# from the EC2 API throttling documentation; Auto Scaling's and classic ELB's are
# estimates (AWS does not publish them).
LIMITS: dict[str, tuple[float, float]] = {
    "ec2-read": (100, 20),
    "ec2-write": (50, 5),
    "ec2-run": (5, 2),
    "autoscaling": (40, 10),
    # Classic ELB: the ELB documentation's example, "the token bucket size for
    # non-mutating API actions is 40 tokens" refilled at 10/s; mutating actions have
    # buckets of their own, whose size is not published (estimate: the same).
    "elb-read": (40, 10),
    "elb-write": (40, 10),
}

NAMESPACES = {
    "autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/",
    "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/",
}

# kind -> (EC2 status, EC2 code, EC2 message, query status, query type, query code, query message)
ERRORS: dict[str, tuple[int, str, str, int, str, str, str]] = {
    "throttle": (
        503, "RequestLimitExceeded", "Request limit exceeded.",
        400, "Sender", "Throttling", "Rate exceeded",
    ),
    "500": (
        500, "InternalError", "An internal error has occurred.",
        500, "Receiver", "InternalFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
    ),
    "503": (
        503, "ServiceUnavailable", "The service is unavailable. Please try again shortly.",
        503, "Receiver", "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
    ),
}
REASONS = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_body(service: str | None, kind: str) -> tuple[int, bytes]:
    """(HTTP status, XML body) of an injected error in the service's own format."""
    ec2_status, ec2_code, ec2_msg, q_status, q_type, q_code, q_msg = ERRORS[kind]
    request_id = str(uuid.uuid4())
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{ec2_code}</Code><Message>{ec2_msg}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return ec2_status, body.encode()
    ns = NAMESPACES.get(service or "")
    open_tag = f'<ErrorResponse xmlns="{ns}">' if ns else "<ErrorResponse>"
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{open_tag}<Error><Type>{q_type}</Type>'
        f"<Code>{q_code}</Code><Message>{q_msg}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return q_status, body.encode()


def respond_error(start_response: Any, service: str | None, kind: str) -> tuple[int, list[bytes]]:
    status, data = error_body(service, kind)
    start_response(
        f"{status} {REASONS.get(status, 'Error')}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))],
    )
    return status, [data]


# --------------------------------------------------------------------------
# Throttling
# --------------------------------------------------------------------------
def family(service: str | None, action: str | None) -> str | None:
    if action is None:
        return None
    if service == "ec2":
        if action == "RunInstances":
            return "ec2-run"
        if action.startswith(("Describe", "Get", "List")):
            return "ec2-read"
        return "ec2-write"
    if service == "elasticloadbalancing":
        return "elb-read" if action.startswith("Describe") else "elb-write"
    if service == "autoscaling":
        return service
    return None


class Buckets:
    """Token buckets refilled on the world clock (on the real clock while the world is
    instant).  ``throttle: "aws"`` (the default): one bucket per EC2 action with its
    family's size, as EC2's documentation describes ("each API is evaluated
    individually"), classic ELB's reads and writes on two, and Auto Scaling on one;
    ``"family"``: one per family; ``"api"``:
    one per action everywhere.  All clients share them, as all callers of one account
    do on AWS."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # key -> [tokens, last refill time, clock basis]
        self.buckets: dict[str, list[Any]] = {}

    @staticmethod
    def _clock() -> tuple[float, str]:
        if WORLD.active:
            return WORLD.now(), "world"
        return time.monotonic(), "real"

    def take(self, service: str | None, action: str | None, mode: str) -> bool:
        """Takes a token for this request; False if its bucket is empty (throttle it)."""
        fam = family(service, action)
        if fam is None:
            return True
        # "aws": EC2 evaluates each API on its own bucket (its documentation); classic ELB
        # has one for its non-mutating actions and one (estimated) for the others; Auto
        # Scaling publishes nothing, so it keeps one budget.
        per_action = mode == "api" or (mode == "aws" and service == "ec2")
        key = f"{fam}/{action}" if per_action else fam
        burst, rate = LIMITS[fam]
        now, basis = self._clock()
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None or bucket[2] != basis:
                bucket = [burst, now, basis]
            else:
                bucket[0] = min(burst, bucket[0] + max(0.0, now - bucket[1]) * rate)
                bucket[1] = now
            self.buckets[key] = bucket
            if bucket[0] >= 1:
                bucket[0] -= 1
                return True
            return False

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return {k: round(v[0], 3) for k, v in self.buckets.items()}

    def reset(self) -> None:
        with self.lock:
            self.buckets.clear()


BUCKETS = Buckets()


# --------------------------------------------------------------------------
# Injected faults
# --------------------------------------------------------------------------
KINDS = ("throttle", "500", "503", "delay", "drop")
RULE_KEYS = {"actions", "services", "clients", "rate", "kind", "delay_ms", "count"}


def _names(rule: dict[str, Any], key: str) -> list[str] | None:
    value = rule.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key} must be a list of non-empty strings")
    return list(value)


def _number(rule: dict[str, Any], key: str, default: float | None) -> float | None:
    value = rule.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{key} must be a number >= 0")
    return float(value)


def parse_rule(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError("each rule must be an object")
    unknown = set(raw) - RULE_KEYS - {"injected"}
    if unknown:
        raise ValueError(f"unknown rule keys: {sorted(unknown)}")
    kind = raw.get("kind")
    if isinstance(kind, int) and not isinstance(kind, bool):
        kind = str(kind)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}")
    rate = _number(raw, "rate", 1.0)
    assert rate is not None
    if rate > 1:
        raise ValueError("rate must be between 0 and 1")
    delay_ms = _number(raw, "delay_ms", None)
    if kind == "delay" and delay_ms is None:
        raise ValueError("a delay rule needs delay_ms")
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ValueError("count must be an integer >= 0 or null")
    return {
        "actions": _names(raw, "actions"),
        "services": _names(raw, "services"),
        "clients": _names(raw, "clients"),
        "rate": rate,
        "kind": kind,
        "delay_ms": delay_ms if kind == "delay" else None,
        "count": count,
        "injected": 0,
    }


class Faults:
    """Fault rules: the first rule that matches a request, has injections left and
    whose draw from the seeded RNG is below its rate, hits it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[dict[str, Any]] = []
        self.seed: int | None = None
        self.rng = random.Random()

    def set(self, body: dict[str, Any]) -> None:
        unknown = set(body) - {"rules", "seed", "injected"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        raw_rules = body.get("rules")
        if not isinstance(raw_rules, list):
            raise ValueError("rules must be a list")
        rules = [parse_rule(r) for r in raw_rules]
        seed = body.get("seed")
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        with self.lock:
            self.rules = rules
            self.seed = seed
            self.rng = random.Random(seed)

    def clear(self) -> None:
        with self.lock:
            self.rules = []
            self.seed = None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "seed": self.seed,
                "rules": [dict(r) for r in self.rules],
                "injected": sum(r["injected"] for r in self.rules),
            }

    def pick(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The rule that hits this request (already counted), or None."""
        service, action = entry.get("service"), entry.get("action")
        if service not in FAULTY_SERVICES:
            return None
        with self.lock:
            for rule in self.rules:
                if rule["actions"] is not None and action not in rule["actions"]:
                    continue
                if rule["services"] is not None and service not in rule["services"]:
                    continue
                if rule["clients"] is not None and not (
                    entry.get("client") in rule["clients"] or entry.get("key") in rule["clients"]
                ):
                    continue
                if rule["count"] is not None and rule["injected"] >= rule["count"]:
                    continue
                if self.rng.random() < rule["rate"]:
                    rule["injected"] += 1
                    return dict(rule)
        return None


FAULTS = Faults()

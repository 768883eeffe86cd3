"""Patch (p) rpc-v2-cbor: CloudWatch over Smithy RPC v2 CBOR (what the Rust SDK and
botocore 1.44 send). test_stock_* asserts moto 5.2.5's gap, test_shim_* the AWS
behaviour drydock's alarm gates depend on."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.serialize import RpcV2CBORSerializer

import shim_cbor
from shimtest import Server

_MODEL = botocore.session.get_session().get_service_model("cloudwatch")


def _cbor_call(server: Server, operation: str, params: dict) -> tuple[int, object]:
    """One request as the Rust SDK sends it (rpc-v2-cbor), unsigned."""
    request = RpcV2CBORSerializer().serialize_to_request(params, _MODEL.operation_model(operation))
    req = urllib.request.Request(
        server.url + request["url_path"], data=request["body"], method="POST"
    )
    for name, value in request["headers"].items():
        req.add_header(name, value)
    req.add_header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, "
        "SignedHeaders=host, Signature=0",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, shim_cbor.decode(resp.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, shim_cbor.decode(body)
        except Exception:  # noqa: BLE001 (stock moto answers HTML or XML)
            return e.code, body


def _alarm(cw, name: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ELB",
        MetricName="HTTPCode_Backend_5XX",
        Dimensions=[{"Name": "LoadBalancerName", "Value": "www-prod"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_stock_cloudwatch_cbor_requests_fail(stock: Server) -> None:
    status, _ = _cbor_call(stock, "DescribeAlarms", {"AlarmNames": ["nothing"]})
    assert status >= 400


def test_shim_cloudwatch_cbor_describe_alarms(shim: Server) -> None:
    _alarm(shim.client("cloudwatch"), "cbor-raw")
    shim.client("cloudwatch").set_alarm_state(
        AlarmName="cbor-raw", StateValue="ALARM", StateReason="Threshold Crossed"
    )
    status, body = _cbor_call(shim, "DescribeAlarms", {"AlarmNames": ["cbor-raw", "absent"]})
    assert status == 200
    alarms = body["MetricAlarms"]  # type: ignore[index]
    assert [a["AlarmName"] for a in alarms] == ["cbor-raw"]
    assert alarms[0]["StateValue"] == "ALARM"
    assert alarms[0]["StateReason"] == "Threshold Crossed"
    assert isinstance(alarms[0]["StateUpdatedTimestamp"], dt.datetime)


def test_shim_cloudwatch_cbor_errors(shim: Server) -> None:
    status, body = _cbor_call(
        shim, "SetAlarmState", {"AlarmName": "no-such", "StateValue": "ALARM", "StateReason": "x"}
    )
    assert status == 404
    assert body["__type"] == "ResourceNotFound"  # type: ignore[index]


def test_shim_cloudwatch_alarm_state_round_trips(shim: Server) -> None:
    cw = shim.client("cloudwatch")
    _alarm(cw, "cbor-5xx")
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    cw.set_alarm_state(AlarmName="cbor-5xx", StateValue="ALARM", StateReason="Threshold Crossed: 12 > 10")
    found = cw.describe_alarms(AlarmNames=["cbor-5xx", "missing-alarm"])["MetricAlarms"]
    assert [a["AlarmName"] for a in found] == ["cbor-5xx"]
    alarm = found[0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"] == "Threshold Crossed: 12 > 10"
    assert isinstance(alarm["StateUpdatedTimestamp"], dt.datetime)
    assert alarm["StateUpdatedTimestamp"] >= before
    assert alarm["Dimensions"] == [{"Name": "LoadBalancerName", "Value": "www-prod"}]


def test_shim_cloudwatch_errors_are_cbor(shim: Server) -> None:
    cw = shim.client("cloudwatch")
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName="no-such-alarm", StateValue="ALARM", StateReason="x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_shim_records_cloudwatch_actions(shim: Server) -> None:
    cw = shim.client("cloudwatch")
    cw.describe_alarms(AlarmNames=["recorded-alarm"])
    _, entries = shim.control("GET", "/drydock-shim/requests")
    assert any(e["service"] == "monitoring" and e["action"] == "DescribeAlarms" for e in entries)


def test_shim_cloudwatch_faults_are_answered_in_cbor(shim: Server) -> None:
    """Injected faults hit CloudWatch too, in its own protocol: the Rust SDK reads a
    throttle as ThrottlingException (and retries it), a 5xx as a server error."""
    cw = shim.client("cloudwatch")
    _alarm(cw, "faulted-5xx")
    rules = [
        {"services": ["monitoring"], "kind": "throttle", "count": 1},
        {"services": ["monitoring"], "kind": "503", "count": 1},
    ]
    assert shim.control("POST", "/drydock-shim/faults", {"rules": rules, "seed": 1})[0] == 200
    status, body = _cbor_call(shim, "DescribeAlarms", {"AlarmNames": ["faulted-5xx"]})
    assert (status, body["__type"], body["message"]) == (400, "ThrottlingException", "Rate exceeded")  # type: ignore[index]
    status, body = _cbor_call(shim, "DescribeAlarms", {"AlarmNames": ["faulted-5xx"]})
    assert (status, body["__type"]) == (503, "ServiceUnavailable")  # type: ignore[index]
    # Both rules spent: the call goes through.
    status, body = _cbor_call(shim, "DescribeAlarms", {"AlarmNames": ["faulted-5xx"]})
    assert status == 200 and [a["AlarmName"] for a in body["MetricAlarms"]] == ["faulted-5xx"]  # type: ignore[index]
    _, entries = shim.control("GET", "/drydock-shim/requests")
    faults = [(e["action"], e["status"], e["throttled"], e["fault"]) for e in entries if e["service"] == "monitoring"]
    assert ("DescribeAlarms", 400, True, "throttle") in faults
    assert ("DescribeAlarms", 503, False, "503") in faults
    shim.control("DELETE", "/drydock-shim/faults")

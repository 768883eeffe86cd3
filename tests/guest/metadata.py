"""EC2's metadata service and AWS's regional endpoints, as the real guests see them.

- `Imds`: the instance metadata service on 169.254.169.254:80 (run.sh gives the test's
  network namespace that address), IMDSv2 only, as drydock's launch templates require:
  PUT /latest/api/token, then every GET with X-aws-ec2-metadata-token. All guests share
  the namespace, so the service tells them apart as EC2 does by the caller: the TCP peer
  of each request is traced to its process (/proc/net/tcp, /proc/*/fd) and that process's
  PID namespace to the guest whose init has it. It answers the instance's id, placement
  and, for an instance launched with an instance profile, that profile's role and
  temporary credentials for it (the emulator's sts:AssumeRole), at
  /latest/meta-data/iam/security-credentials/<role>.
- `AwsFront`: https://ssm.<region>.amazonaws.com and https://secretsmanager.<region>.
  amazonaws.com for the guests: a TLS listener on 127.0.0.2:443 (the guests' /etc/hosts
  name it, the test CA signs its certificate) that passes the bytes on to the emulator.
  So the AWS CLI on the guest runs with no endpoint or CA option at all, as on EC2.

Neither is drydock's: they stand in for EC2 and AWS (README, "The real guest").
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

IMDS_ADDR = "169.254.169.254"
FRONT_ADDR = "127.0.0.2"
REGION = "us-east-1"
FRONT_NAMES = [f"ssm.{REGION}.amazonaws.com", f"secretsmanager.{REGION}.amazonaws.com"]


def _client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _peer_pid(peer: tuple[str, int]) -> int | None:
    """The process that owns the client end of a TCP connection of this network namespace."""
    ip, port = peer
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(ip), "little"), port)
    inode = None
    with open("/proc/self/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want:
                inode = cols[9]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
        except OSError:
            continue
    return None


class Imds:
    def __init__(self, driver, endpoint: str, log) -> None:
        self.driver = driver
        self.ec2 = _client("ec2", endpoint)
        self.asg = _client("autoscaling", endpoint)
        self.iam = _client("iam", endpoint)
        self.sts = _client("sts", endpoint)
        self.log = log
        self.tokens: dict[str, float] = {}
        self.creds: dict[str, dict] = {}  # role -> credentials, renewed when near expiry
        self.requests: list[tuple[str, str, int]] = []  # (instance id, path, status)
        imds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # noqa: D102 - quiet; the world's log has each request
                pass

            def reply(self, status: int, body: str, ctype: str = "text/plain") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):  # noqa: N802
                if self.path != "/latest/api/token":
                    return self.reply(404, "Not Found")
                try:
                    ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
                except ValueError:
                    return self.reply(400, "Bad Request")
                if not 1 <= ttl <= 21600:
                    return self.reply(400, "Bad Request")
                token = secrets.token_urlsafe(32)
                imds.tokens[token] = time.monotonic() + ttl
                self.reply(200, token)

            def do_GET(self):  # noqa: N802
                token = self.headers.get("X-aws-ec2-metadata-token", "")
                if imds.tokens.get(token, 0) < time.monotonic():
                    return self.reply(401, "Unauthorized")  # IMDSv2 only (HttpTokens=required)
                status, body, ctype = imds.answer(self.client_address, self.path)
                self.reply(status, body, ctype)

        self.server = ThreadingHTTPServer((IMDS_ADDR, 80), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="imds", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- which instance asks -------------------------------------------------------------
    def caller(self, peer: tuple[str, int]):
        pid = _peer_pid(peer)
        if pid is None:
            return None
        try:
            ns = os.readlink(f"/proc/{pid}/ns/pid")
        except OSError:
            return None
        for g in list(self.driver.guests.values()):
            leader = g.leader()
            if leader is None:
                continue
            try:
                if os.readlink(f"/proc/{leader}/ns/pid") == ns:
                    return g
            except OSError:
                continue
        return None

    def profile_of(self, iid: str) -> str | None:
        """The instance's profile: its own, else (the emulator does not copy it to the
        instances of a group) the one of its group's launch template."""
        inst = self.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        arn = (inst.get("IamInstanceProfile") or {}).get("Arn")
        if arn:
            return arn.rsplit("/", 1)[-1]
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        group = tags.get("aws:autoscaling:groupName")
        if not group:
            return None
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        lt = groups[0].get("LaunchTemplate") if groups else None
        if not lt:
            return None
        version = lt.get("Version", "$Default")
        v = self.ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"], Versions=[version])
        data = v["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        spec = data.get("IamInstanceProfile") or {}
        return spec.get("Name") or (spec.get("Arn") or "").rsplit("/", 1)[-1] or None

    def role_of(self, profile: str) -> tuple[str, str, str] | None:
        p = self.iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
        if not p["Roles"]:
            return None
        return p["Arn"], p["InstanceProfileId"], p["Roles"][0]["Arn"]

    def credentials(self, role_arn: str) -> dict:
        c = self.creds.get(role_arn)
        if c is None or c["Expiration"] - datetime.now(timezone.utc) < timedelta(minutes=20):
            c = self.sts.assume_role(RoleArn=role_arn, RoleSessionName="i-metadata", DurationSeconds=3600)[
                "Credentials"]
            self.creds[role_arn] = c
        return c

    def answer(self, peer, path: str) -> tuple[int, str, str]:
        g = self.caller(peer)
        status, body, ctype = self._answer(g, path.split("?")[0])
        self.requests.append((g.iid if g else "?", path, status))
        self.log(f"imds: {g.iid if g else 'unknown caller'} GET {path}: {status}")
        return status, body, ctype

    def _answer(self, g, path: str) -> tuple[int, str, str]:
        if g is None:
            return 404, "Not Found", "text/plain"
        md = "/latest/meta-data/"
        simple = {
            md + "instance-id": g.iid,
            md + "ami-id": g.image,
            md + "placement/region": REGION,
            md + "placement/availability-zone": REGION + "a",
        }
        if path in simple:
            return 200, simple[path], "text/plain"
        if path == "/latest/dynamic/instance-identity/document":
            doc = {"instanceId": g.iid, "imageId": g.image, "region": REGION, "availabilityZone": REGION + "a",
                   "accountId": "123456789012"}
            return 200, json.dumps(doc), "application/json"
        if not path.startswith(md + "iam/"):
            return 404, "Not Found", "text/plain"
        profile = self.profile_of(g.iid)
        role = self.role_of(profile) if profile else None
        if role is None:
            return 404, "Not Found", "text/plain"  # EC2: no iam/ tree without a profile
        profile_arn, profile_id, role_arn = role
        role_name = role_arn.rsplit("/", 1)[-1]
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if path == md + "iam/info":
            info = {"Code": "Success", "LastUpdated": now, "InstanceProfileArn": profile_arn,
                    "InstanceProfileId": profile_id}
            return 200, json.dumps(info), "text/plain"
        if path in (md + "iam/security-credentials", md + "iam/security-credentials/"):
            return 200, role_name, "text/plain"
        if path == md + f"iam/security-credentials/{role_name}":
            c = self.credentials(role_arn)
            body = {"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC", "AccessKeyId": c["AccessKeyId"],
                    "SecretAccessKey": c["SecretAccessKey"], "Token": c["SessionToken"],
                    "Expiration": c["Expiration"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            return 200, json.dumps(body), "text/plain"
        return 404, "Not Found", "text/plain"


class AwsFront:
    """TLS on FRONT_ADDR:443 for the regional endpoints; the bytes go on to the emulator."""

    def __init__(self, endpoint: str, cert: str, key: str, log) -> None:
        host, port = endpoint.split("//", 1)[1].split(":")
        self.backend = (host, int(port))
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.log = log
        self.sock = socket.create_server((FRONT_ADDR, 443))
        self.stopped = False
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, name="aws-front", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stopped = True
        self.sock.close()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log(f"aws-front: TLS handshake failed: {e!r}")
            conn.close()
            return
        self.connections += 1
        up = socket.create_connection(self.backend)

        def pump(src, dst) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=pump, args=(up, tls), daemon=True)
        t.start()
        pump(tls, up)
        t.join(timeout=30)
        tls.close()
        up.close()

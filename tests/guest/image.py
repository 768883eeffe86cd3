"""The service image of the real guest, pushed to the test's own registry (no Docker Hub).

One layer: the static busybox of the host (Debian's busybox-static) with its applets, and
/start, which records the environment the container started with and serves it:

    GET /health   "ok"
    GET /env      the container's environment at start, one NAME=value a line, sorted

    python image.py --registry https://127.0.0.1:443 --ca ca.crt --repo drydock/hello TAG...

Pushed through the registry's HTTP API (a blob upload per blob, then the manifest), as a
Docker image manifest v2 schema 2, which every Docker since 1.10 pulls.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import ssl
import subprocess
import tarfile
import urllib.request

START = """#!/bin/sh
# hello: answers /health and shows the environment it started with at /env.
mkdir -p /www
echo ok >/www/health
env | sort >/www/env
echo "hello: serving on :${PORT:-8000} as $(hostname)"
exec httpd -f -v -p "${PORT:-8000}" -h /www
"""


def layer(busybox: str) -> bytes:
    """A deterministic tar of /bin/busybox, its applet links and /start."""
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(name: str, data: bytes | None = None, mode: int = 0o755, link: str | None = None, dir_: bool = False):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.mode = mode
            if dir_:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))

        for d in ("bin", "tmp", "www"):
            add(d, dir_=True, mode=0o1777 if d == "tmp" else 0o755)
        with open(busybox, "rb") as f:
            add("bin/busybox", f.read())
        for a in sorted(set(applets)):
            if a != "busybox":
                add(f"bin/{a}", link="busybox")
        add("start", START.encode())
    return buf.getvalue()


def push(registry: str, ctx: ssl.SSLContext, repo: str, tags: list[str], busybox: str) -> str:
    raw = layer(busybox)
    gz = gzip.compress(raw, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/bin", "PORT=8000"],
                "Entrypoint": ["/start"],
                "ExposedPorts": {"8000/tcp": {}},
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
            "history": [{"created_by": "tests/guest/image.py"}],
        },
        sort_keys=True,
    ).encode()

    def call(method: str, url: str, data: bytes | None = None, ctype: str | None = None):
        if not url.startswith("http"):
            url = registry + url
        req = urllib.request.Request(url, data=data, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        return urllib.request.urlopen(req, context=ctx, timeout=30)

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with call("POST", f"/v2/{repo}/blobs/uploads/") as r:
            loc = r.headers["Location"]
        sep = "&" if "?" in loc else "?"
        with call("PUT", f"{loc}{sep}digest={digest}", data, "application/octet-stream") as r:
            assert r.status == 201, r.status
        return digest

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": blob(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(gz),
                    "digest": blob(gz),
                }
            ],
        }
    ).encode()
    for tag in tags:
        with call("PUT", f"/v2/{repo}/manifests/{tag}", manifest, "application/vnd.docker.distribution.manifest.v2+json") as r:
            assert r.status == 201, r.status
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("tags", nargs="+")
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    print(push(a.registry.rstrip("/"), ctx, a.repo, a.tags, os.path.realpath(a.busybox)))


if __name__ == "__main__":
    main()

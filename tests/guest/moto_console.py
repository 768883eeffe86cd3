"""The fidelity shim (tests/moto/drydock_moto.py, unchanged) plus the real guests' consoles.

moto's GetConsoleOutput answers a fixed Xen boot log for every instance. Here it answers
what EC2 answers: the instance's own console, i.e. what the guest driver's systemd-nspawn
printed for it (`<console dir>/<instance id>.log`), its last 64 KiB, base64 encoded. So
drydock's bake reads the real bootstrap's output, and its failure marker, exactly as it
would read a real builder's.

    .venv/bin/python tests/guest/moto_console.py --console-dir DIR [drydock_moto.py flags]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "moto"))

import drydock_moto  # noqa: E402


def patch_console(console_dir: str) -> None:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.ec2.responses.general import General
    from moto.ec2.utils import Base64EncodedString

    original = General.get_console_output

    def get_console_output(self):  # type: ignore[no-untyped-def]
        instance_id = self._get_param("InstanceId")
        path = os.path.join(console_dir, f"{instance_id}.log")
        if not os.path.exists(path):
            return original(self)
        instance = self.ec2_backend.get_instance(instance_id)
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
        return ActionResult(
            {"InstanceId": instance.id, "Timestamp": utcnow(), "Output": Base64EncodedString.from_raw_string(text)}
        )

    General.get_console_output = get_console_output


def main() -> int:
    args = sys.argv[1:]
    if "--console-dir" not in args:
        print("usage: moto_console.py --console-dir DIR [drydock_moto.py flags]", file=sys.stderr)
        return 2
    i = args.index("--console-dir")
    console_dir = args[i + 1]
    del args[i : i + 2]
    patch_console(console_dir)
    return drydock_moto.main(args)


if __name__ == "__main__":
    sys.exit(main())

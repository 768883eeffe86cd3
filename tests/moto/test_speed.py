"""The speed patches (shim_speed.py) answer exactly what moto answers, without the
scans that made moto the bottleneck. In-process: each test applies a patch and puts
moto's own function back afterwards."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import shim_speed


@pytest.fixture
def ec2() -> Iterator[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    yield backend
    backend.reset()


class _Resource:
    """Any tagged EC2 resource: moto's mixin on an id (lt- is a launch template, i- an
    instance, sg- a security group)."""

    def __init__(self, backend: Any, rid: str) -> None:
        self.ec2_backend = backend
        self.id = rid


def _resources(backend: Any) -> list[Any]:
    from moto.ec2.models.core import TaggedEC2Resource

    kind = type("Tagged", (_Resource, TaggedEC2Resource), {})
    out = []
    # Ids that are prefixes of each other: moto's pattern is anchored, the lookup exact.
    for i, rid in enumerate(["lt-1", "lt-10", "lt-100", "i-1", "i-12", "sg-1", "vpc-untagged"]):
        r = kind(backend, rid)
        if rid != "vpc-untagged":
            backend.create_tags([rid], {"Name": f"n{i}", "drydock:cluster": f"c{i % 3}", "k": ""})
        out.append(r)
    return out


def test_tags_by_id_answer_what_moto_answers(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ec2.models.core import TaggedEC2Resource

    resources = _resources(ec2)
    stock = {r.id: TaggedEC2Resource.get_tags(r) for r in resources}
    stock_filter = {r.id: r.get_filter_value("tag:drydock:cluster") for r in resources}
    monkeypatch.setattr(TaggedEC2Resource, "get_tags", TaggedEC2Resource.get_tags)
    shim_speed.patch_ec2_tags_by_id()
    for r in resources:
        assert r.get_tags() == stock[r.id], r.id
        assert r.get_filter_value("tag:drydock:cluster") == stock_filter[r.id], r.id
    assert stock["vpc-untagged"] == []
    # A read adds no entry to moto's defaultdict of tags.
    assert "vpc-untagged" not in ec2.tags


def test_tags_by_id_do_not_scan_every_tag(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost: moto's get_tags goes through describe_tags, the scan of all tags of the
    region; the patched one never does."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.tags import TagBackend

    resources = _resources(ec2)
    scans = []
    real = TagBackend.describe_tags

    def counting(self: Any, filters: Any = None) -> Any:
        scans.append(filters)
        return real(self, filters)

    monkeypatch.setattr(TagBackend, "describe_tags", counting)
    monkeypatch.setattr(TaggedEC2Resource, "get_tags", TaggedEC2Resource.get_tags)
    resources[0].get_tags()
    assert len(scans) == 1, "moto's own get_tags scans (the premise of the patch)"
    shim_speed.patch_ec2_tags_by_id()
    for r in resources:
        r.get_tags()
    assert len(scans) == 1


def test_module_list_is_moto_s_and_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from moto import backends

    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    stock = list(backends.list_of_moto_modules())
    assert "ec2" in stock and "autoscaling" in stock
    listed = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p: listed.append(p) or real(p))
    shim_speed.patch_module_list_cached()
    assert len(listed) == 1
    for _ in range(3):
        assert list(backends.list_of_moto_modules()) == stock
    assert len(listed) == 1

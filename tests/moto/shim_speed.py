"""Speed patches: moto 5.2.5 made faster where a world of 100 services made it the
bottleneck of the time-model benchmark. Each returns exactly what moto returns; none
changes behaviour (tested against moto's own code in test_speed.py).

Why: moto serves every request in one Python process. Profiled (py-spy) during
`deploy --all` of 100 services, 60 % of its busy time was DescribeLaunchTemplates with a
tag filter: moto reads the tags of *each* template through TagBackend.describe_tags,
which scans every tag of every EC2 resource (instances included) with a regex, so one
call costs templates x all tags. Another 10 % was the dispatcher listing moto's package
directory (an isdir per entry) for every request, under its one lock. AWS answers such
reads in constant time per resource, so the benchmark measured the emulator instead of
drydock.
"""

from __future__ import annotations

from typing import Any, Callable


def patch_ec2_tags_by_id() -> None:
    """A resource's tags by a lookup of its id instead of a scan of every tag.

    moto: TaggedEC2Resource.get_tags calls describe_tags(filters={"resource-id": [id]}),
    whose `resource-id` pattern is fnmatch-anchored, so for an id without wildcards it
    is exactly the entries of TagBackend.tags[id], in their order.
    """
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    stock = TaggedEC2Resource.get_tags

    def get_tags(self: Any) -> list[dict[str, str]]:
        rid = getattr(self, "id", None)
        if not rid or "*" in rid or "?" in rid:
            return stock(self)
        # .get, not []: TagBackend.tags is a defaultdict, and a read must not add an entry.
        tags = self.ec2_backend.tags.get(rid) or {}
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "")
        return [{"resource_id": rid, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]

    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign]


def patch_module_list_cached() -> None:
    """The list of moto's service modules, read once instead of on every request.

    moto: DomainDispatcherApplication.get_backend_for_host lists moto's package directory
    (an isdir per entry) for each request, under the dispatcher's lock. The directory
    does not change while the server runs.
    """
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


PATCHES: list[tuple[str, Callable[[], None]]] = [
    ("speed-ec2-tags-by-id", patch_ec2_tags_by_id),
    ("speed-module-list-cached", patch_module_list_cached),
]

"""requirements*.txt name the direct dependencies, constraints.txt pins the whole tree: they
must agree, or `make run` / `make test` stop at pip's "conflicting dependencies"."""

import re
from pathlib import Path

from packaging.utils import canonicalize_name

BASE_DIR = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", re.M)


def pins(name: str) -> dict[str, str]:
    text = (BASE_DIR / name).read_text()
    return {canonicalize_name(package): version for package, version in PIN.findall(text)}


def test_every_pinned_requirement_is_in_the_constraints_at_the_same_version():
    constraints = pins("constraints.txt")
    required = pins("requirements.txt") | pins("requirements-dev.txt")

    assert len(required) > 15  # the pattern finds them
    assert {name: constraints.get(name) for name in required} == required


def test_the_transitive_dependencies_are_pinned_too():
    constraints = pins("constraints.txt")

    for package in (
        "django-filter",
        "django-modelcluster",
        "django-taggit",
        "apscheduler",
        "willow",
    ):
        assert package in constraints, package

"""Runtime and dev dependencies live in two lock files (issue 14): the production image installs only
requirements.lock; `make test` and CI install requirements-dev.lock (= -r requirements.lock + test tools)."""

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_TOOLS = {"pytest", "pytest-django", "playwright", "schemathesis", "hypothesis", "ruff", "pip-audit", "factory-boy"}


def _pins(name):
    lines = (ROOT / name).read_text().splitlines()
    return {canonicalize_name(line.split("==")[0]): line for line in lines if "==" in line and not line.startswith("#")}


def _runtime_roots():
    """The requirements.in lines above its '# tests / dev' marker."""
    runtime_part = (ROOT / "requirements.in").read_text().split("# tests / dev")[0]
    return [line.split("#")[0].strip() for line in runtime_part.splitlines() if line.split("#")[0].strip()]


def _closure(roots):
    """Canonical names of the roots and everything they require (installed metadata, extras followed)."""
    seen, todo = set(), [Requirement(root) for root in roots]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue
        for spec in dist.requires or []:
            sub = Requirement(spec)
            envs = [{"extra": extra} for extra in (req.extras or {""})]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return {name for name, _ in seen}


def test_runtime_lock_has_no_test_or_dev_tool():
    runtime = _pins("requirements.lock")
    assert not DEV_TOOLS & set(runtime), sorted(DEV_TOOLS & set(runtime))


def test_runtime_lock_pins_every_runtime_requirement_and_its_dependencies():
    runtime = _pins("requirements.lock")
    missing = _closure(_runtime_roots()) - set(runtime)
    assert not missing, f"runtime packages missing from requirements.lock: {sorted(missing)}"


def test_dev_lock_includes_the_runtime_lock_and_pins_the_test_tools_once():
    text = (ROOT / "requirements-dev.lock").read_text()
    assert "-r requirements.lock" in text.splitlines()
    dev = _pins("requirements-dev.lock")
    assert DEV_TOOLS <= set(dev), sorted(DEV_TOOLS - set(dev))
    assert not set(dev) & set(_pins("requirements.lock")), "a package is pinned in both lock files"


def test_image_installs_only_the_runtime_lock_and_make_installs_both():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile and "requirements-dev.lock" not in dockerfile
    assert "pip install -r requirements-dev.lock" in (ROOT / "Makefile").read_text().replace("--quiet ", "")

"""Role questions are predicates on ``trials.access.Access`` (issue 10, A.5), and "unscoped" is explicit.

Services, API permissions and views ask ``access_for(user).is_data_manager``, ``.can_sign(site)``,
``.can_view_reports``…; none tests a role by hand. ``SYSTEM`` is the registry acting on its own
(command-line exports); ``None`` is nobody and sees nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.factories import enroll_patient, make_user
from trials.access import SYSTEM, access_for, scope_queryset
from trials.models import Patient, Role, Site


@pytest.fixture
def two_sites(db):
    atl = Site.objects.create(code="ATL", name="Atlanta")
    bos = Site.objects.create(code="BOS", name="Boston")
    enroll_patient(make_user("coord_atl", Role.COORDINATOR, atl), atl, with_procedure=False)
    enroll_patient(make_user("coord_bos", Role.COORDINATOR, bos), bos, with_procedure=False)
    return atl, bos


def test_system_is_unscoped_only_when_named(two_sites):
    assert scope_queryset(SYSTEM, Patient.objects.all()).count() == 2
    assert scope_queryset(None, Patient.objects.all()).count() == 0
    assert access_for(SYSTEM).is_data_manager and not access_for(None).has_registry_role


@pytest.mark.parametrize(
    ("role", "site_bound", "data_manager", "reports", "signs_atl", "signs_bos"),
    [
        (Role.COORDINATOR, True, False, False, False, False),
        (Role.SITE_INVESTIGATOR, True, False, False, True, False),
        (Role.INVESTIGATOR, False, False, True, False, False),
        (Role.DATA_MANAGER, False, True, True, False, False),
        (Role.SPONSOR, False, False, False, False, False),
    ],
)
def test_role_predicates(two_sites, role, site_bound, data_manager, reports, signs_atl, signs_bos):
    atl, bos = two_sites
    access = access_for(make_user(f"u_{role}", role, atl if site_bound else None))
    assert access.has_registry_role
    assert access.is_data_manager is data_manager
    assert access.can_view_reports is reports
    assert (access.can_sign(atl.pk), access.can_sign(bos.pk)) == (signs_atl, signs_bos)


def test_a_superuser_without_a_role_is_a_data_manager_but_signs_nothing(two_sites):
    atl, _ = two_sites
    access = access_for(get_user_model().objects.create_superuser("root", password="pw-Secret-123"))
    assert access.is_data_manager and access.can_view_reports and access.has_registry_role
    assert not access.can_sign(atl.pk)


def test_no_role_is_tested_by_hand_outside_access():
    """``Role.X in ….roles`` / ``.is_superuser`` belong in trials/access.py only."""
    root = Path(settings.BASE_DIR)
    offenders = []
    for path in [*(root / "trials").rglob("*.py"), *(root / "analytics").rglob("*.py"), *(root / "apicore").rglob("*.py")]:
        if "migrations" in path.parts or path.name == "access.py" or "seeding" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
                text = ast.unparse(node)
                if "Role." in text and "roles" in text:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}: {text}")
            if isinstance(node, ast.Attribute) and node.attr == "is_superuser":
                offenders.append(f"{path.relative_to(root)}:{node.lineno}: .is_superuser")
    assert not offenders, "\n".join(offenders)

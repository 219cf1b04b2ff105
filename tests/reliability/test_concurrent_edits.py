"""Two clients update the same visit from the same version: one wins, the other gets a conflict (issue 7 §4)."""

import threading

import pytest
from django.db import close_old_connections

from tests.factories import visit_data
from trials import services
from trials.errors import ConflictError
from trials.models import PainAssessment, Visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_same_version_concurrent_updates_one_wins_no_lost_update(postgres, patient, coordinator):
    visit = Visit.objects.get(patient=patient, visit_code="month1")
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(visit.target_date, worst=5))
    visit.refresh_from_db()
    base_version = visit.version
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def edit(worst: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.visit_record(
                actor=coordinator,
                visit=visit,
                data=visit_data(visit.target_date, worst=worst),
                reason=f"Correction to {worst}",
                expected_version=base_version,
            )
            outcomes[worst] = "won"
        except ConflictError:
            outcomes[worst] = "conflict"
        finally:
            close_old_connections()

    threads = [threading.Thread(target=edit, args=(w,)) for w in (2, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes.values()) == ["conflict", "won"], outcomes
    winner = next(w for w, o in outcomes.items() if o == "won")
    visit.refresh_from_db()
    assert visit.version == base_version + 1
    assert PainAssessment.objects.get(visit=visit).worst == winner
    # the loser's value appears nowhere in the audit trail: nothing was half-written
    loser = next(w for w, o in outcomes.items() if o == "conflict")
    assert not PainAssessment.history.filter(visit_id=visit.pk, worst=loser).exists()

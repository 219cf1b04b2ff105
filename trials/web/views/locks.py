"""Locks (issue 6): the list, and for data managers lock (scope chosen explicitly, then a confirmation step) and
unlock with a reason. Decisions are ``trials.services.locking``'s; its errors are shown on the page.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from trials.access import access_for
from trials.guards import clinical_page
from trials.models import Lock, LockScope
from trials.services import locking
from trials.web.forms.data_management import LockForm
from trials.web.forms.errors import apply_showing_errors


@clinical_page
def lock_list(request):
    """Locks, and for data managers: lock (scope chosen explicitly, then a confirmation step) and unlock with a reason."""
    is_data_manager = access_for(request.user).is_data_manager
    form = LockForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if not is_data_manager:
            raise PermissionDenied("Only a data manager may lock or unlock data.")
        if request.POST.get("unlock"):
            lock = get_object_or_404(Lock, pk=request.POST["unlock"])
            if apply_showing_errors(request, locking.lock_release, lock=lock, reason=request.POST.get("unlock_reason", "")):
                messages.success(request, f"Unlocked: {lock.target_label}.")
                return redirect("dm_locks")
        elif form.is_valid():
            if request.POST.get("confirm") != "yes":
                return render(
                    request,
                    "trials/data_management/lock_confirm.html",
                    {"form": form, "target": form.target(), "affected": form.affected_patients()},
                )
            if _lock_from_form(request, form):
                messages.success(request, f"Locked {form.target()}.")
                return redirect("dm_locks")
    locks = Lock.objects.select_related("patient", "site", "locked_by", "unlocked_by").order_by("unlocked_at", "-locked_at")
    locks = locking.visible_locks(request.user, locks)
    return render(
        request, "trials/data_management/locks.html", {"locks": locks[:200], "form": form, "is_data_manager": is_data_manager}
    )


def _lock_from_form(request, form: LockForm) -> bool:
    scope, reason = form.cleaned_data["scope"], form.cleaned_data["reason"]
    if scope == LockScope.PATIENT:
        return apply_showing_errors(request, locking.patient_lock, patient=form.cleaned_data["patient_obj"], reason=reason)
    if scope == LockScope.SITE:
        return apply_showing_errors(request, locking.site_lock, site=form.cleaned_data["site"], reason=reason)
    return apply_showing_errors(request, locking.study_lock, reason=reason)

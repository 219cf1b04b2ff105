"""Users and roles for data managers: create an account with a role, add/remove roles, deactivate (issue 11 item 7).

Thin views over ``trials.services.users``; every change asks for a reason and
shows up in the account's history and in the study audit log.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render

from trials.access import access_for
from trials.errors import DomainValidationError
from trials.guards import clinical_page
from trials.models import AccountEvent, Membership, Role, Site
from trials.services import users as user_services
from trials.web.forms.errors import domain_errors_to_form

User = get_user_model()
PAGE_SIZE = 50
REASON_HELP = "Why (e.g. 'New coordinator at Atlanta, delegation log signed 28 Nov'). Kept in the audit trail."


class RoleFields(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, label="Role")
    site = forms.ModelChoiceField(
        queryset=Site.objects.filter(active=True),
        required=False,
        label="Site",
        help_text="For a site coordinator or site investigator; empty for study-wide roles.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Reason", help_text=REASON_HELP)


class UserCreateForm(RoleFields):
    username = forms.CharField(max_length=150, label="Username")
    first_name = forms.CharField(max_length=150, required=False, label="First name")
    last_name = forms.CharField(max_length=150, required=False, label="Last name", help_text="The printed name on signatures.")
    email = forms.EmailField(required=False, label="Email")
    password = forms.CharField(
        widget=forms.PasswordInput,
        label="Initial password",
        help_text="Give it to the user privately; they change it after logging in.",
    )
    field_order = ["username", "first_name", "last_name", "email", "password", "role", "site", "reason"]


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Reason", help_text=REASON_HELP)


def _require_manager(request) -> None:
    if not access_for(request.user).is_data_manager:
        raise PermissionDenied("The users page is for data managers.")


def _page_gate(view):
    @clinical_page
    def wrapper(request, *args, **kwargs):
        _require_manager(request)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _run(form: forms.Form, action, **kwargs):
    try:
        return action(**kwargs), True
    except DomainValidationError as exc:
        domain_errors_to_form(form, exc)
        return None, False


@_page_gate
def user_list(request):
    """Every account with its roles; filter by name, role, site or status; the create form."""
    search = request.GET.get("q", "").strip()
    users = User.objects.order_by("username").prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("site"))
    )
    if search:
        users = users.filter(Q(username__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search))
    role = request.GET.get("role", "")
    if role in Role.values:
        users = users.filter(memberships__role=role).distinct()
    status = request.GET.get("status", "")
    if status in ("active", "inactive"):
        users = users.filter(is_active=status == "active")
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user, ok = _run(
            form,
            user_services.user_create,
            actor=request.user,
            username=data["username"],
            password=data["password"],
            role=data["role"],
            site=data["site"],
            reason=data["reason"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
        )
        if ok:
            messages.success(request, f"Created {user.get_username()} as {user_services.role_label(data['role'], data['site'])}.")
            return redirect("user_detail", pk=user.pk)
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "web/user_list.html",
        {
            "page": page,
            "form": form,
            "search": search,
            "role": role,
            "status": status,
            "roles": Role.choices,
        },
    )


@_page_gate
def user_detail(request, pk: int):
    """One account: its roles (add / remove), deactivate or reactivate, and its history of changes."""
    account = get_object_or_404(User, pk=pk)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    role_form = RoleFields(request.POST if action == "add_role" else None, prefix="add")
    reason_form = ReasonForm(request.POST if action in ("deactivate", "reactivate", "remove_role") else None)
    done = None
    if action == "add_role" and role_form.is_valid():
        data = role_form.cleaned_data
        _, ok = _run(
            role_form,
            user_services.role_add,
            actor=request.user,
            user=account,
            role=data["role"],
            site=data["site"],
            reason=data["reason"],
        )
        done = ok and f"Added the role {user_services.role_label(data['role'], data['site'])}."
    elif action == "remove_role" and reason_form.is_valid():
        membership = get_object_or_404(Membership, pk=request.POST.get("membership"), user=account)
        label = user_services.role_label(membership.role, membership.site)
        _, ok = _run(
            reason_form,
            user_services.role_remove,
            actor=request.user,
            membership=membership,
            reason=reason_form.cleaned_data["reason"],
        )
        done = ok and f"Removed the role {label}."
    elif action == "deactivate" and reason_form.is_valid():
        counts, ok = _run(
            reason_form,
            user_services.user_deactivate,
            actor=request.user,
            user=account,
            reason=reason_form.cleaned_data["reason"],
        )
        done = ok and (
            f"Deactivated {account.get_username()}: {counts['sessions']} session(s) ended, "
            f"{counts['tokens']} API token(s) revoked."
        )
    elif action == "reactivate" and reason_form.is_valid():
        _, ok = _run(
            reason_form,
            user_services.user_reactivate,
            actor=request.user,
            user=account,
            reason=reason_form.cleaned_data["reason"],
        )
        done = ok and f"Reactivated {account.get_username()}."
    elif action and action not in ("add_role", "remove_role", "deactivate", "reactivate"):
        raise PermissionDenied("Unknown action.")
    if done:
        messages.success(request, done)
        return redirect("user_detail", pk=account.pk)
    return render(
        request,
        "web/user_detail.html",
        {
            "account": account,
            "memberships": account.memberships.select_related("site"),
            "role_form": role_form,
            "reason_form": reason_form,
            "action": action,
            "events": AccountEvent.objects.filter(user=account).select_related("actor")[:100],
        },
    )

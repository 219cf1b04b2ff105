"""The patient's questionnaire pages (issue 15 §4): ``/q/<token>/`` — no login, the token is the key.

- The token (``pro.tokens.resolve``) opens exactly one patient-visit; expired (window closed), submitted, revoked,
  stopped, unknown or malformed tokens all get the same neutral page with the same status (404) and body.
- The page shows the study name, the site and the visit, nothing else about the patient.
- One item group per step, every answer saved as a draft on each step (resume with the same link), a review
  step, then submission; after it, the same browser sees its answers read-only with a thank-you.
- English and Spanish: every label of the page is translated (``locale/``); the questions come from the
  instrument in the page's language when the site loaded a validated translation, else in the instrument's
  validated language.
- Guessing is throttled per client address (``pro.patient.throttle``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from pro import tokens
from pro.models import Invitation, InvitationStatus, ResponseStatus
from pro.patient import steps as flow
from pro.patient.throttle import link_failure_record, link_throttled, window_seconds
from pro.submission import invitation_opened, questionnaire_submit, response_save
from trials.errors import DomainValidationError

LANGUAGE_COOKIE = settings.LANGUAGE_COOKIE_NAME
DONE_SESSION_KEY = "pro_submitted_invitations"
# The visit names patients see (trials.domain.schedule codes), translated with the page.
VISIT_LABELS = {
    "baseline": gettext_lazy("Baseline"),
    "day3": gettext_lazy("Day 3"),
    "week1": gettext_lazy("Week 1"),
    "month1": gettext_lazy("Month 1"),
    "month3": gettext_lazy("Month 3"),
    "month6": gettext_lazy("Month 6"),
    "month12": gettext_lazy("Month 12"),
}


def _language(request, invitation: Invitation | None) -> str:
    """The page's language: the one the patient picked (cookie), else the invitation's, else the browser's."""
    supported = dict(settings.LANGUAGES)
    picked = request.GET.get("lang") or request.COOKIES.get(LANGUAGE_COOKIE)
    if picked in supported:
        return picked
    if invitation is not None and invitation.language in supported:
        return invitation.language
    return translation.get_language_from_request(request)


def _neutral(request) -> HttpResponse:
    """One page for every refused link, whatever the reason (same status, same body)."""
    language = _language(request, None)
    with translation.override(language):
        context = {"page_title": _("This link cannot be used"), "language": language}
        return render(request, "pro/patient/unavailable.html", context, status=404)


def _throttled(request) -> HttpResponse:
    language = _language(request, None)
    with translation.override(language):
        response = render(
            request, "pro/patient/throttled.html", {"page_title": _("Too many attempts"), "language": language}, status=429
        )
    response["Retry-After"] = str(window_seconds())
    return response


def _done(request) -> list[int]:
    return list(request.session.get(DONE_SESSION_KEY, []))


def token_page(view):
    """Resolve the token (throttled), refuse with the neutral page, run ``view`` in the page's language."""

    @never_cache
    @csrf_protect
    def wrapper(request, token: str, *args, **kwargs):
        response = _answer(request, token, *args, **kwargs)
        # The token is in the address: never send it to another site. ("no-referrer" would also make the browser
        # send "Origin: null" with the page's own forms, which Django's CSRF check rightly refuses.)
        response["Referrer-Policy"] = "same-origin"
        return response

    def _answer(request, token: str, *args, **kwargs):
        if link_throttled(request):
            return _throttled(request)
        invitation = tokens.resolve(token, include_submitted=True)
        if invitation is not None and invitation.status == InvitationStatus.SUBMITTED and invitation.pk not in _done(request):
            invitation = None  # a used link: only the browser that submitted it sees its answers again
        if invitation is None:
            link_failure_record(request)
            return _neutral(request)
        language = _language(request, invitation)
        with translation.override(language):
            response = view(request, token, invitation, language, *args, **kwargs)
        if request.GET.get("lang") in dict(settings.LANGUAGES):
            response.set_cookie(LANGUAGE_COOKIE, request.GET["lang"], samesite="Lax", secure=request.is_secure())
        response["Content-Language"] = language
        return response

    return wrapper


class Questionnaire:
    """The invitation's instruments, steps and saved answers, as one page sees them."""

    def __init__(self, invitation: Invitation, language: str):
        self.invitation = invitation
        self.language = language
        self.instruments = list(invitation.instruments.order_by("code"))
        self.responses = {r.instrument_id: r for r in invitation.responses.all()}
        self.answers = {i.pk: dict(self.responses[i.pk].answers) if i.pk in self.responses else {} for i in self.instruments}
        self.steps = flow.steps_of(self.instruments, language)

    @property
    def shown_steps(self) -> list[flow.Step]:
        return [s for s in self.steps if flow.step_shown(s, self.answers)]

    @property
    def submitted(self) -> bool:
        return self.invitation.status == InvitationStatus.SUBMITTED or any(
            r.status == ResponseStatus.SUBMITTED for r in self.responses.values()
        )

    def step(self, index: int) -> flow.Step | None:
        return next((s for s in self.shown_steps if s.index == index), None)

    def neighbours(self, step: flow.Step) -> tuple[flow.Step | None, flow.Step | None]:
        shown = self.shown_steps
        position = shown.index(step)
        return (shown[position - 1] if position else None, shown[position + 1] if position + 1 < len(shown) else None)

    def first_unanswered(self) -> flow.Step | None:
        for step in self.shown_steps:
            answers = self.answers[step.instrument.pk]
            if not any(answers.get(code) not in (None, [], "") for code in step.item_codes):
                return step
        return None

    def started(self) -> bool:
        return any(self.answers.values())

    def summary(self) -> list[dict]:
        """Every shown step with its questions and answers in words, for the review and the thank-you page."""
        rows = []
        for step in self.shown_steps:
            answers = self.answers[step.instrument.pk]
            if step.repeating:
                entries = flow.repeat_rows(step, answers, self.language, extra=0) if answers.get(step.repeating["code"]) else []
                lines: list[str] = [", ".join(_answer_text(q) for q in row if q.value is not None) for row in entries]
                numbered = [{"text": _("Medicine %(n)s") % {"n": n}, "answer": line} for n, line in enumerate(lines, 1) if line]
                rows.append({"step": step, "lines": numbered})
                continue
            items = [{"text": q.text, "answer": _answer_text(q)} for q in flow.questions(step, answers, self.language)]
            rows.append({"step": step, "lines": items})
        return rows


def _answer_text(question: flow.Question) -> str:
    if question.value is None:
        return _("Not answered")
    for choice in question.choices:
        if choice.value == question.value:
            return choice.label if question.kind == "choice" else f"{choice.label}"
    return f"{question.value}{(' ' + question.unit) if question.unit and question.kind == 'number' else ''}"


def _context(request, token: str, invitation: Invitation, language: str, **extra) -> dict:
    patient = invitation.patient
    return {
        "token": token,
        "study_name": settings.REGISTRY_STUDY_NAME,
        "site_name": patient.site.name,
        "visit_label": VISIT_LABELS.get(invitation.visit_code, invitation.visit_code),
        "language": language,
        "languages": settings.LANGUAGES,
        "path": request.path,
        "closes_on": invitation.window_closes_on,
        **extra,
    }


@token_page
def questionnaire_start(request, token: str, invitation: Invitation, language: str):
    """The first page: who is asking (study, site, visit), how long it takes, start or continue."""
    q = Questionnaire(invitation, language)
    if q.submitted:
        return redirect("pro_patient_done", token=token)
    invitation_opened(invitation)
    resume = q.first_unanswered() if q.started() else None
    first = q.shown_steps[0] if q.shown_steps else None
    target = resume or (first if not q.started() else None)
    return render(
        request,
        "pro/patient/start.html",
        _context(
            request,
            token,
            invitation,
            language,
            page_title=_("Your questionnaire"),
            started=q.started(),
            next_url=reverse("pro_patient_step", args=[token, target.index])
            if target
            else reverse("pro_patient_review", args=[token]),
            step_count=len(q.shown_steps),
        ),
    )


@token_page
def questionnaire_step(request, token: str, invitation: Invitation, language: str, index: int):
    """One item group: GET shows it with the saved answers; POST saves them (draft) and moves on."""
    q = Questionnaire(invitation, language)
    if q.submitted:
        return redirect("pro_patient_done", token=token)
    step = q.step(index)
    if step is None:
        return redirect("pro_patient_start", token=token)
    errors: dict[str, str] = {}
    answers = q.answers[step.instrument.pk]
    extra_rows = flow.BLANK_ROWS
    if request.method == "POST":
        answers, errors = flow.parse_step(step, request.POST, answers, language)
        action = request.POST.get("action", "next")
        if not errors:
            response_save(
                invitation=invitation,
                instrument=step.instrument,
                answers=flow.clean_answers(step.instrument, answers),
                language=language,
            )
            q = Questionnaire(invitation, language)
            step = q.step(index) or step
            if action == "add_row":
                extra_rows = flow.BLANK_ROWS + 1
            else:
                return _after_save(token, q, step, action)
    return _render_step(request, token, invitation, language, q, step, answers, errors, extra_rows)


def _after_save(token: str, q: Questionnaire, step: flow.Step, action: str):
    previous, following = q.neighbours(step)
    if action == "later":
        return redirect(reverse("pro_patient_start", args=[token]) + "?saved=1")
    if action == "back":
        return (
            redirect("pro_patient_step", token=token, index=previous.index)
            if previous
            else redirect("pro_patient_start", token=token)
        )
    if following is None:
        return redirect("pro_patient_review", token=token)
    return redirect("pro_patient_step", token=token, index=following.index)


def _render_step(request, token, invitation, language, q: Questionnaire, step, answers, errors, extra_rows):
    shown = q.shown_steps
    position = shown.index(step) + 1 if step in shown else 1
    if step.repeating:
        rows = flow.repeat_rows(step, answers, language, extra=extra_rows)
        for row_index, row in enumerate(rows):
            for question in row:
                question.field = flow.field_name(question.code, row_index)
                question.error = errors.get(question.field, "")
        questions, question_rows = [], rows
    else:
        questions, question_rows = flow.questions(step, answers, language), []
        for question in questions:
            question.field = flow.field_name(question.code)
            question.error = errors.get(question.field, "")
    error_list = [{"field": f, "message": m} for f, m in errors.items()]
    return render(
        request,
        "pro/patient/step.html",
        _context(
            request,
            token,
            invitation,
            language,
            page_title=_("Step %(n)s of %(total)s: %(title)s") % {"n": position, "total": len(shown), "title": step.title},
            step=step,
            position=position,
            total=len(shown),
            questions=questions,
            question_rows=question_rows,
            can_add_row=bool(step.repeating) and len(question_rows) < step.repeating.get("repeat_max", 1),
            errors=error_list,
        ),
        status=400 if errors else 200,
    )


@token_page
def questionnaire_review(request, token: str, invitation: Invitation, language: str):
    """Every answer on one page with a link back to its step; submitting ends the questionnaire."""
    q = Questionnaire(invitation, language)
    if q.submitted:
        return redirect("pro_patient_done", token=token)
    if request.method == "POST":
        try:
            questionnaire_submit(invitation=invitation, language=language)
        except DomainValidationError:
            return redirect("pro_patient_done", token=token)
        request.session[DONE_SESSION_KEY] = [*_done(request), invitation.pk]
        return redirect("pro_patient_done", token=token)
    return render(
        request,
        "pro/patient/review.html",
        _context(request, token, invitation, language, page_title=_("Check your answers"), summary=q.summary()),
    )


@token_page
def questionnaire_done(request, token: str, invitation: Invitation, language: str):
    """After submission: a thank-you and the answers, read-only."""
    q = Questionnaire(invitation, language)
    if not q.submitted:
        return redirect("pro_patient_start", token=token)
    return render(
        request,
        "pro/patient/done.html",
        _context(request, token, invitation, language, page_title=_("Thank you"), summary=q.summary()),
    )

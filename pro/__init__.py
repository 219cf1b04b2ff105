"""Patient-reported outcomes (issue 15): instruments as data, invitations by link, contacts encrypted at rest.

Public API (docs/pro.md): ``pro.models`` (Instrument, PatientContact, Invitation, InvitationEvent,
QuestionnaireResponse), ``pro.tokens.issue`` / ``pro.tokens.resolve``, ``pro.instruments`` (schema, load,
text per language) and ``pro.scoring.score``.
"""

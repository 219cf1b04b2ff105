"""The patient's questionnaire page (issue 15 §4): no login, the link's token opens one patient-visit."""

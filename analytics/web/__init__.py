"""The investigator reports pages (request a run, follow its progress, read the summary, download artifacts).

Rendered in the registry's web shell (``web/base.html``, ``trials.guards``); URL names ``reports``, ``report_detail``,
``report_status`` and ``report_artifact``, composed into the site by ``config/urls.py``.
"""

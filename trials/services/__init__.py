"""Every write that matters goes through these functions (DESIGN.md "Who writes business logic where").

Each one validates, runs in one transaction and writes the audit record.
"""

from trials.services.corrections import clinical_record_update, clinical_record_void
from trials.services.events import adverse_event_report, skeletal_event_report, study_exit_record
from trials.services.imaging import imaging_assessment_record
from trials.services.patients import lesion_add, patient_eligibility, patient_enroll, patient_reschedule
from trials.services.treatment import procedure_record, radiation_record
from trials.services.visits import VisitData, visit_data_check, visit_data_void, visit_record

__all__ = [
    "VisitData",
    "adverse_event_report",
    "clinical_record_update",
    "clinical_record_void",
    "imaging_assessment_record",
    "lesion_add",
    "patient_eligibility",
    "patient_enroll",
    "patient_reschedule",
    "procedure_record",
    "radiation_record",
    "skeletal_event_report",
    "study_exit_record",
    "visit_data_check",
    "visit_data_void",
    "visit_record",
]

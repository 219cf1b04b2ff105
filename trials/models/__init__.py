"""Registry data model (DESIGN.md "Domain model")."""

from trials.models.base import ClinicalQuerySet, ClinicalRecord, RepeatingRecord
from trials.models.data_management import (
    SIGNATURE_STATEMENTS,
    DataQuery,
    DataQueryResponse,
    Lock,
    LockScope,
    QueryAction,
    QueryStatus,
    Signature,
    SignatureMeaning,
)
from trials.models.events import (
    AdverseEvent,
    AEOutcome,
    ExitType,
    Relatedness,
    SIRGrade,
    SkeletalEvent,
    SREType,
    StudyExit,
)
from trials.models.imaging import ImagingAssessment, ImagingModality, ViableTumour
from trials.models.imports import ImportRun, ImportStatus
from trials.models.patients import Bone, Histology, Lesion, Patient, Region, Sex
from trials.models.sites import AccountAction, AccountEvent, Membership, Role, Site
from trials.models.tokens import ApiToken
from trials.models.treatment import (
    Anesthesia,
    Augmentation,
    CementTechnique,
    Modality,
    Procedure,
    RadiationCourse,
    RadiationSequence,
    RadiationTechnique,
)
from trials.models.visits import AnswerSource, MedicationUse, OpioidStatus, PainAssessment, Visit

__all__ = [
    "AnswerSource",
    "ApiToken",
    "AEOutcome",
    "AdverseEvent",
    "Anesthesia",
    "Augmentation",
    "Bone",
    "CementTechnique",
    "ClinicalQuerySet",
    "ClinicalRecord",
    "DataQuery",
    "DataQueryResponse",
    "Lock",
    "LockScope",
    "SIGNATURE_STATEMENTS",
    "SignatureMeaning",
    "QueryAction",
    "QueryStatus",
    "Signature",
    "ExitType",
    "Histology",
    "ImagingAssessment",
    "ImagingModality",
    "ImportRun",
    "ImportStatus",
    "Lesion",
    "MedicationUse",
    "AccountAction",
    "AccountEvent",
    "Membership",
    "Modality",
    "OpioidStatus",
    "PainAssessment",
    "Patient",
    "Procedure",
    "RadiationCourse",
    "RadiationSequence",
    "RadiationTechnique",
    "Region",
    "Relatedness",
    "RepeatingRecord",
    "Role",
    "SIRGrade",
    "SREType",
    "Sex",
    "Site",
    "SkeletalEvent",
    "StudyExit",
    "ViableTumour",
    "Visit",
]

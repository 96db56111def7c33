"""Model governance: every model a production stack serves carries its provenance on record.

A model is a dependency like an image: its source and pinned revision are not enough for a
regulated review, which also asks under which license it runs, who approved this revision
and where, and which evaluation approved it (for a pre-quantized checkpoint, its
quantization too, and where that quantization came from). The record travels on the
InferenceService as annotations (`components/conventions.py`, written from the model's spec
by `components/plan/pools.py`), so the rule judges any InferenceService, hand-made ones too,
from what the object itself says, and `kubectl` shows the same record.

Production stacks must carry it (`model-approved`, mandatory); elsewhere the same check is
advisory (`model-provenance`), so a dev stack shows what production will ask for. The
policy SDK gives one enforcement level per rule, hence two rules over one check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from components.conventions import (
    MODEL_APPROVAL_REF_ANNOTATION,
    MODEL_APPROVED_BY_ANNOTATION,
    MODEL_APPROVED_ON_ANNOTATION,
    MODEL_EVALUATION_ANNOTATION,
    MODEL_LICENSE_ANNOTATION,
    MODEL_PROVENANCE_ANNOTATIONS,
    MODEL_QUANTIZATION_ANNOTATION,
    MODEL_QUANTIZATION_SOURCE_ANNOTATION,
    MODEL_SOURCE_ANNOTATION,
    QUANTIZED_AT_LOAD,
    UNQUANTIZED,
)
from policy.kube import INFERENCE_SERVICE, annotations_of, kind_of, mapping
from policy.rule import EnforcementLevel, ResourceValidationArgs, in_production, production_stacks_config, resource_rule

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The spec field each annotation comes from, for the messages.
_FIELDS = {
    MODEL_LICENSE_ANNOTATION: "license",
    MODEL_APPROVED_BY_ANNOTATION: "approval.owner",
    MODEL_APPROVAL_REF_ANNOTATION: "approval.reference",
    MODEL_APPROVED_ON_ANNOTATION: "approval.date",
    MODEL_EVALUATION_ANNOTATION: "evaluation",
    MODEL_QUANTIZATION_SOURCE_ANNOTATION: "quantizationSource",
}

MODEL_APPROVED_CONFIG = production_stacks_config("Stacks whose models must carry their provenance")


def provenance_problems(props: object) -> Iterator[str]:
    """What an InferenceService's provenance record lacks, one message per missing item."""
    props = mapping(props)
    annotations = annotations_of(props)
    model = annotations.get(MODEL_SOURCE_ANNOTATION) or "its model"
    required = list(MODEL_PROVENANCE_ANNOTATIONS)
    quantization = str(annotations.get(MODEL_QUANTIZATION_ANNOTATION) or UNQUANTIZED)
    if quantization not in (UNQUANTIZED, QUANTIZED_AT_LOAD):
        required.append(MODEL_QUANTIZATION_SOURCE_ANNOTATION)
    missing = [key for key in required if not str(annotations.get(key) or "").strip()]
    if missing:
        fields = ", ".join(_FIELDS.get(key, key) for key in missing)
        yield f"serves {model} without {fields} on record (annotations {', '.join(missing)})"
    approved_on = annotations.get(MODEL_APPROVED_ON_ANNOTATION)
    if approved_on and not _DATE.match(str(approved_on)):
        yield f"{MODEL_APPROVED_ON_ANNOTATION} '{approved_on}' is not a date (YYYY-MM-DD)"


def _check(args: ResourceValidationArgs, production: bool) -> Iterator[str]:
    if kind_of(args.resource_type) != INFERENCE_SERVICE or in_production(args, MODEL_APPROVED_CONFIG) != production:
        return
    yield from provenance_problems(args.props)


_REMEDIATION = (
    "Give the model in the stack file its `license`, `approval` (owner, reference, date), "
    "`evaluation` and, for a pre-quantized checkpoint, `quantizationSource`; the platform writes "
    "them onto the InferenceService. For an InferenceService declared by hand, set the "
    "llmserving.io/model-* annotations."
)

MODEL_APPROVED = resource_rule(
    "model-approved",
    "Every model a production stack serves has its license, approval (owner, reference, date), "
    "evaluation and, for a pre-quantized checkpoint, its quantization source on record.",
    lambda args: _check(args, production=True),
    _REMEDIATION,
    config=MODEL_APPROVED_CONFIG,
)

MODEL_PROVENANCE = resource_rule(
    "model-provenance",
    "Outside production stacks, the record model-approved requires, as advice: what production will ask for.",
    lambda args: _check(args, production=False),
    _REMEDIATION,
    level=EnforcementLevel.ADVISORY,
    config=MODEL_APPROVED_CONFIG,
)

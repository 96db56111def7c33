"""The models the platform serves, each pinned to an exact hub commit, with its
architecture named from the catalog or given inline."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from components.capacity import weight_bytes_total
from components.catalog import ARCHITECTURES, Architecture
from components.spec.base import COMMIT_PATTERN, HUB_ID_PATTERN, DnsLabel, Problem, Switch, Text, _Spec, not_in_catalog


def _architecture_kind(value: Any) -> str:
    return "key" if isinstance(value, str) else "inline"


ArchitectureRef = Annotated[
    Annotated[Text, Field(max_length=64), Tag("key")] | Annotated[Architecture, Tag("inline")],
    Discriminator(_architecture_kind),
]


class Approval(_Spec):
    """Who allowed this revision into serving, where that decision is recorded, and when."""

    owner: Text = Field(min_length=1, max_length=200, description="Who approved it: a person or a team.")
    reference: Text = Field(
        min_length=1, max_length=500, description="Where the approval is recorded: a ticket id or URL."
    )
    date: datetime.date = Field(description="The day it was approved (YYYY-MM-DD).")


class ModelSpec(_Spec):
    """One model pinned to an exact hub commit."""

    name: DnsLabel = Field(description="Served model name clients put in `model`.")
    source: Text = Field(pattern=HUB_ID_PATTERN, description="Hub id, e.g. meta-llama/Llama-3.1-8B-Instruct.")
    revision: Text = Field(pattern=COMMIT_PATTERN, description="40-hex commit of the hub repository.")
    architecture: ArchitectureRef = Field(description="Catalog key, or the numbers inline.")
    dtype: Literal["auto", "bfloat16", "float16"] = "auto"
    quantization: Literal["none", "fp8", "awq", "gptq"] = Field(
        default="none", description="Format of the weights in GPU memory."
    )
    quantize_on_load: Switch = Field(
        default=False,
        description="The checkpoint is 16-bit and vLLM quantizes it to FP8 at load "
        "(--quantization fp8). Pre-quantized checkpoints leave this off: vLLM reads their "
        "quantization_config and picks its fastest kernel.",
    )

    license: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None,
        min_length=1,
        description="The model's license (an SPDX id or the license's own name, e.g. llama3.1). "
        "Production stacks require it (policy rule model-approved).",
    )
    approval: Approval | None = Field(
        default=None, description="The approval of this revision. Production stacks require it (model-approved)."
    )
    evaluation: Annotated[Text, Field(max_length=500)] | None = Field(
        default=None,
        min_length=1,
        description="Reference (report id or URL) to the evaluation that approved this revision and "
        "quantization. Production stacks require it (model-approved).",
    )
    quantization_source: Annotated[Text, Field(max_length=500)] | None = Field(
        default=None,
        min_length=1,
        description="For a pre-quantized checkpoint: where the quantization came from (who made it, "
        "with which tool and recipe). Production stacks require it for quantized checkpoints.",
    )

    @property
    def arch(self) -> Architecture:
        if isinstance(self.architecture, Architecture):
            return self.architecture
        return ARCHITECTURES[self.architecture]

    @property
    def checkpoint_bytes(self) -> int:
        """Weights as stored in the cache: 16-bit when vLLM quantizes them at load."""
        stored = "none" if self.quantize_on_load else self.quantization
        return weight_bytes_total(self.arch, self.dtype, stored)

    @property
    def cache_path(self) -> str:
        """Where the warm-up puts this revision inside the model cache."""
        return f"models/{self.source}/{self.revision}"


def model_problems(path: str, model: ModelSpec) -> Iterator[Problem]:
    """What is wrong with one model on its own."""
    if isinstance(model.architecture, str) and model.architecture not in ARCHITECTURES:
        yield f"{path}.architecture", not_in_catalog(model.architecture, ARCHITECTURES)
    if model.quantize_on_load and model.quantization != "fp8":
        yield f"{path}.quantizeOnLoad", "only FP8 can be applied at load; set quantization: fp8"
    if model.quantization_source is not None and (model.quantization == "none" or model.quantize_on_load):
        yield (
            f"{path}.quantizationSource",
            "only a pre-quantized checkpoint has a quantization source (quantization set, quantizeOnLoad off)",
        )

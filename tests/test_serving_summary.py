"""The pull-request comment's serving summary, from real renders of the shipped prod stack
and of a change to it: per pool, model and revision before and after, context cap,
replicas, capacity and approval, above the manifests diff."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tools import pr_comment, render, serving_summary
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

NEW_REVISION = "1111111111111111111111111111111111111111"
OLD_REVISION = "0e9e39f249a16976918f6564b8830bc894c89659"


def _results(tmp_path, edit):
    """A results folder as the offline-check workflow lays it out: prod's base render and the
    render of prod with `edit` applied to its platform config."""
    stack_file = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    edit(stack_file["config"]["private-llm-serving:platform"])
    proposed = tmp_path / "Pulumi.prod.yaml"
    proposed.write_text(yaml.safe_dump(stack_file))
    results = tmp_path / "results"
    render.write(render.render(load_stack("prod")), results / "base" / "prod")
    render.write(render.render(load_stack("prod", str(proposed))), results / "head" / "prod")
    (results / "prod.exit").write_text("0\n")
    (results / "prod.check.txt").write_text("prod: 42 objects, 0 advisory, 0 findings\n")
    return results


def _new_revision(platform):
    chat_model = platform["models"][0]
    chat_model["revision"] = NEW_REVISION
    chat_model["approval"] = {"owner": "ml-platform-team", "reference": "GOV-2001", "date": "2026-12-01"}


def test_a_revision_change_opens_the_stack_section_with_the_serving_summary_above_the_diff(tmp_path):
    body, failed = pr_comment.build(_results(tmp_path, _new_revision))
    assert failed == []
    summary_at, diff_at = body.index("**Serving:** 1 of 2 pools change"), body.index("manifests.yaml diff")
    assert body.index("### `prod`") < summary_at < body.index("check output") < diff_at
    summary = body[summary_at:diff_at]
    chat = next(line for line in summary.splitlines() if line.startswith("| `chat` |"))
    cells = [cell.strip() for cell in chat.strip("|").split("|")]
    header = [cell.strip() for cell in summary.splitlines()[2].strip("|").split("|")]
    row = dict(zip(header, cells, strict=True))
    assert row["model"] == "`llama-3-1-8b-instruct`"
    assert row["revision"] == f"`{OLD_REVISION[:12]}` → **`{NEW_REVISION[:12]}`**"
    assert row["context cap"] == "`8192`" and row["replicas"] == "`2-8`"
    # The figures of the render it summarises (capacity.json), not a copy of the model's numbers.
    figures = json.loads((tmp_path / "results" / "head" / "prod" / "capacity.json").read_text())["chat"]
    assert row["KV tokens"] == f"`{figures['kvCacheTokens']:,}`"
    assert row["seqs at cap"] == f"`{figures['concurrentSequencesAtCap']}`"
    assert row["approval"].endswith("→ **ml-platform-team (GOV-2001, 2026-12-01)**")
    batch = next(line for line in summary.splitlines() if line.startswith("| `batch` |"))
    assert "→" not in batch and "ml-platform-team (example) (EXAMPLE-GOV-1251, 2026-11-16)" in batch


def test_a_revision_change_that_keeps_the_old_approval_is_called_out(tmp_path):
    results = _results(tmp_path, lambda platform: platform["models"][0].update(revision=NEW_REVISION))
    summary = serving_summary.section(results / "base" / "prod", results / "head" / "prod")
    assert "`chat`: the model changes but its approval is the previous one's" in summary


def test_a_base_rendered_without_the_model_annotations_still_shows_its_revision(tmp_path):
    results = _results(tmp_path, _new_revision)
    base_manifests = results / "base" / "prod" / render.MANIFESTS
    docs = list(yaml.safe_load_all(base_manifests.read_text()))
    for doc in docs:
        if doc and doc.get("kind") == "InferenceService":
            doc["metadata"]["annotations"] = {
                key: value for key, value in doc["metadata"]["annotations"].items() if "llmserving.io" not in key
            }
    base_manifests.write_text(yaml.safe_dump_all(docs))
    pools = serving_summary.read_pools(results / "base" / "prod")
    assert pools["chat"].revision == OLD_REVISION[:12] and pools["chat"].approval == serving_summary.NO_APPROVAL


def test_a_longer_hold_under_the_knative_proxy_restart_acceptance_is_called_out_with_its_reason(tmp_path):
    results = _results(tmp_path, lambda platform: platform["pools"][1].update(startupTimeoutSeconds=2400))
    summary = serving_summary.section(results / "base" / "prod", results / "head" / "prod")
    (warning,) = [line for line in summary.splitlines() if "knativeProxyRestart" in line]
    assert warning.startswith(
        "- `batch`: accepts that a restart of Knative's proxies cuts its requests, which may take up to 3000 s"
    )
    assert "The document pipeline's job runner retries a batch request cut with a 5xx" in warning


def test_an_unchanged_acceptance_is_not_repeated(tmp_path):
    results = _results(tmp_path, _new_revision)
    summary = serving_summary.section(results / "base" / "prod", results / "head" / "prod")
    assert "knativeProxyRestart" not in summary

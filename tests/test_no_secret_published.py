"""A secret pasted where it does not belong (a config field, an extraArg, an annotation, a
hand-edited render) appears in no render file, cache, message or pull-request comment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.redact import REDACTED, redact
from tests.conftest import write_stack_file
from tools import pr_comment, render
from tools.__main__ import main

pytestmark = pytest.mark.program

# One of each shape: a hub token, an OpenAI-style key, a JWT, an AWS secret key, a password
# in a URL, and a random-looking key of no known prefix.
TOKENS = [
    "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890",
    "sk-proj-AbCdEf0123456789GhIjKl",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Zx81KpQ3vN7mW2tR9yB4cL6hJ0dF5sGa",
]
HUB_TOKEN = TOKENS[0]


def _published(tmp_path: Path, capsys, config_file: Path) -> str:
    """Everything `render` and `check` write or print for the stack file."""
    out_dir = tmp_path / "out"
    codes = [
        main(["render", "leaky", "--config-file", str(config_file), "--out", str(out_dir)]),
        main(["check", "leaky", "--config-file", str(config_file)]),
    ]
    captured = capsys.readouterr()
    files = [path.read_text() for path in out_dir.glob("*")] if out_dir.exists() else []
    assert codes == [2, 2], captured.err
    return "\n".join([captured.out, captured.err, *files])


PLACEMENTS = [
    ("gateway.serviceAnnotations", lambda p, t: p.setdefault("gateway", {}).update(serviceAnnotations={"x/token": t})),
    ("pools[0].extraArgs[1]", lambda p, t: p["pools"][0].update(extraArgs=["--served-model-name", t])),
    ("pools[0].extraArgs[1]", lambda p, t: p["pools"][0].update(extraArgs=["--chat-template-content-format", t])),
    ("models[0].source", lambda p, t: p["models"][0].update(source=f"meta-llama/{t}")),
    ("cluster.context", lambda p, t: p["cluster"].update(context=t)),
    ("monitoring.runbookUrl", lambda p, t: p.setdefault("monitoring", {}).update(runbookUrl=f"https://x/{t}")),
]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(("path", "place"), PLACEMENTS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(PLACEMENTS)])
def test_a_secret_in_a_config_field_is_refused_and_never_shown(tmp_path, capsys, platform, path, place, token):
    place(platform, token)
    config_file = write_stack_file(tmp_path / "Pulumi.leaky.yaml", platform)
    published = _published(tmp_path, capsys, config_file)
    assert token not in published
    assert f"private-llm-serving:platform.{path}" in published


def test_a_plain_text_hub_token_in_the_stack_file_is_a_finding_never_shown(tmp_path, capsys, platform):
    config_file = write_stack_file(tmp_path / "Pulumi.leaky.yaml", platform)
    document = yaml.safe_load(config_file.read_text())
    document["config"]["private-llm-serving:hfToken"] = HUB_TOKEN
    config_file.write_text(yaml.safe_dump(document))
    assert main(["check", "leaky", "--config-file", str(config_file)]) == 1
    out, err = capsys.readouterr()
    assert "secret-config" in out and "private-llm-serving:hfToken: is in plain text in the stack file" in out
    assert HUB_TOKEN not in out + err


def _rendered(value: str) -> render.Rendered:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": value}}
    return render.Rendered(manifests=[obj], resources=[{"inputs": obj}], outputs={"o": value}, capacity={})


def test_render_files_redact_token_like_strings_wherever_they_came_from(tmp_path):
    written, count = render.write(_rendered(f"prefix {HUB_TOKEN} suffix"), tmp_path)
    assert count == 3  # manifests, resources, outputs
    for path in written:
        assert HUB_TOKEN not in path.read_text()
    assert f"prefix {REDACTED} suffix" in (tmp_path / "manifests.yaml").read_text()


def test_the_shipped_renders_lose_nothing_to_redaction(tmp_path):
    """Commits, digests, ARNs and Kubernetes names are not token-like: the shipped stacks'
    renders pass through unchanged."""
    for stack in ("dev", "prod", "onprem"):
        assert main(["render", stack, "--out", str(tmp_path / stack)]) == 0
        for path in (tmp_path / stack).iterdir():
            assert redact(path.read_text())[1] == 0, path


def test_the_pull_request_comment_redacts_and_says_so(tmp_path):
    (tmp_path / "dev.exit").write_text("1\n")
    (tmp_path / "dev.check.txt").write_text(f"finding x: value {TOKENS[1]}\n")
    head = tmp_path / "head" / "dev"
    head.mkdir(parents=True)
    (head / "manifests.yaml").write_text(f"token: {TOKENS[2]}\n")
    (head / "capacity.json").write_text("{}\n")
    body, failed = pr_comment.build(tmp_path)
    assert failed == ["dev"]
    assert TOKENS[1] not in body and TOKENS[2] not in body
    assert "2 token-like string(s) were redacted from this comment" in body


def test_check_from_a_tampered_render_prints_no_token(tmp_path, capsys):
    assert main(["render", "onprem", "--out", str(tmp_path)]) == 0
    manifests = tmp_path / "manifests.yaml"
    documents = list(yaml.safe_load_all(manifests.read_text()))
    isvc = next(d for d in documents if d["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["args"] += ["--api-key", TOKENS[4]]
    isvc["metadata"].setdefault("annotations", {})["leak"] = TOKENS[3]
    manifests.write_text(yaml.safe_dump_all(documents))
    resources = json.loads((tmp_path / "resources.json").read_text())
    for resource in resources:
        if resource["inputs"].get("kind") == "InferenceService":
            resource["inputs"] = (
                isvc if resource["inputs"]["metadata"]["name"] == isvc["metadata"]["name"] else resource["inputs"]
            )
    (tmp_path / "resources.json").write_text(json.dumps(resources))
    main(["check", "--from", str(tmp_path)])
    out, err = capsys.readouterr()
    assert TOKENS[4] not in out + err and TOKENS[3] not in out + err

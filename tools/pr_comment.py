"""The offline-check pull-request comment: each stack's check result and rendered diff.

The `offline-check` workflow checks every stack with the pull request's code, renders each
stack with the pull request's and the base branch's code, and runs

    python -m tools.pr_comment --results DIR --out comment.md

where DIR holds `<stack>.check.txt` and `<stack>.exit` (the output and exit code of
`python -m tools check <stack>`) and `head/<stack>/`, `base/<stack>/` (render outputs; a
missing base means the stack is new, or the base branch could not render it). Reviewers and
forks without cloud credentials see exactly which Kubernetes objects a change touches; each
stack's section opens with what changes for serving (`tools/serving_summary.py`).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from components.redact import REDACTED, redact
from tools import serving_summary

MARKER = "<!-- offline-check -->"
# GitHub refuses comments over 65536 characters; leave room for the truncation note.
MAX_COMMENT_CHARS = 60000
DIFFED_FILES = ("manifests.yaml", "capacity.json")


def file_diff(base_dir: Path | None, head_dir: Path, name: str) -> str:
    """Unified diff of one render file, base branch to pull request ('' when unchanged)."""
    base = (base_dir / name).read_text(encoding="utf-8").splitlines(keepends=True) if base_dir else []
    head_file = head_dir / name
    head = head_file.read_text(encoding="utf-8").splitlines(keepends=True) if head_file.is_file() else []
    return "".join(difflib.unified_diff(base, head, f"base/{name}", f"pull request/{name}"))


def stack_section(
    stack: str, exit_code: int, check_output: str, diffs: dict[str, str], base_rendered: bool, serving: str = ""
) -> str:
    """One stack: its verdict, the serving summary (`tools.serving_summary`) first, then the
    check output and the diffs."""
    verdict = {0: "passes", 1: "has findings", 2: "invalid config"}.get(exit_code, f"exit {exit_code}")
    lines = [f"### `{stack}`: check {verdict}", "", *([serving] if serving else []),
             "<details><summary>check output</summary>", "",
             "```", check_output.strip(), "```", "</details>", ""]  # fmt: skip
    if not base_rendered:
        lines += ["The base branch does not render this stack (a new stack, or a base that fails): "
                  "the diff shows everything as added.", ""]  # fmt: skip
    changed = {name: diff for name, diff in diffs.items() if diff}
    if not changed:
        lines += ["Rendered objects and capacity figures: unchanged.", ""]
    for name, diff in changed.items():
        lines += [f"<details><summary>{name} diff</summary>", "", "```diff", diff.rstrip("\n"), "```", "</details>", ""]
    return "\n".join(lines)


def comment(sections: Sequence[str], failed: Sequence[str]) -> str:
    summary = f"**Offline check: {', '.join(failed)} failed.**" if failed else "**Offline check: every stack passes.**"
    # Whatever the check output and the renders hold, a token-like string is not published:
    # the comment is public on a public repository, and readable by every reader of the PR.
    clean, redactions = redact("\n".join(sections))
    note = (
        [f"{redactions} token-like string(s) were redacted from this comment as `{REDACTED}`; a secret belongs "
         "in secret config (`pulumi config set --secret`), never in a stack file or extraArgs.", ""]
        if redactions else []
    )  # fmt: skip
    body = "\n".join([MARKER, "## Offline check", "", summary, "", *note, clean])
    if len(body) <= MAX_COMMENT_CHARS:
        return body
    truncated = "\n\n…truncated: download the `offline-check-comment` artifact for the full report.\n"
    return body[:MAX_COMMENT_CHARS] + truncated


def build(results: Path) -> tuple[str, list[str]]:
    """The comment body and the stacks whose check did not pass."""
    sections, failed = [], []
    for exit_file in sorted(results.glob("*.exit")):
        stack = exit_file.stem
        exit_code = int(exit_file.read_text().strip() or "1")
        base_dir = results / "base" / stack
        base_rendered = (base_dir / DIFFED_FILES[0]).is_file()
        base = base_dir if base_rendered else None
        diffs = {name: file_diff(base, results / "head" / stack, name) for name in DIFFED_FILES}
        check_output = (results / f"{stack}.check.txt").read_text(encoding="utf-8")
        serving = serving_summary.section(base, results / "head" / stack)
        sections.append(stack_section(stack, exit_code, check_output, diffs, base_rendered, serving))
        if exit_code != 0:
            failed.append(stack)
    return comment(sections, failed), failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pr_comment", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="folder of check outputs and renders")
    parser.add_argument("--out", type=Path, required=True, help="where to write the comment (Markdown)")
    args = parser.parse_args(argv)
    body, failed = build(args.results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(body, encoding="utf-8")
    print(f"wrote {args.out}; failed stacks: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

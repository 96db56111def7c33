"""`python -m tools`: render and check a stack offline; smoke- and load-test its deployed pools.

`render`, `check`, `capacity` and `images` need no cloud and no CLI; `smoke` and `loadtest`
call a deployed pool's endpoint (tools/endpoints.py).

Exit codes: 0 fine, 1 findings, 2 invalid input (config or arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from components.redact import redacted
from tools import loadtest, smoke
from tools.offline_secrets import plaintext_secrets
from tools.stackfile import REPO_ROOT, InputError, StackInput, load_stack

# The gates (the policy pack, the CRD schemas, the capacity table, the mock runtime) are
# imported where a verb needs them, after the stack file is read: a bad stack file is
# refused in well under a second, before a second is spent importing them.
if TYPE_CHECKING:
    from tools import check, render

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputError as error:  # tools.schemas.SchemasMissing is one too
        print(f"error: {redacted(str(error))}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other command-line tools do;
        # stdout goes to /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    render_verb = verbs.add_parser("render", help="write manifests.yaml, resources.json, outputs.json, capacity.json")
    _stack_arguments(render_verb)
    render_verb.add_argument("--out", type=Path, help="output folder (default build/<stack>)")
    render_verb.set_defaults(handler=_render)

    check_verb = verbs.add_parser("check", help="render, then run every check; exit 1 on findings")
    check_verb.add_argument("stack", nargs="?", help="stack name (stacks/Pulumi.<stack>.yaml)")
    check_verb.add_argument(
        "--config-file", help="any file in the stack file format; with --from, the stack file the render came from"
    )
    check_verb.add_argument("--from", dest="from_dir", type=Path, help="check an existing render output")
    check_verb.add_argument("--schemas", type=Path, help="CRD schemas folder (default ../shared/schemas)")
    check_verb.add_argument(
        "--policy-config", type=Path, help="policy pack config JSON (the format of pulumi preview --policy-pack-config)"
    )
    check_verb.set_defaults(handler=_check)

    capacity_verb = verbs.add_parser("capacity", help="the capacity table of every pool; exit 2 if one is rejected")
    _stack_arguments(capacity_verb)
    capacity_verb.set_defaults(handler=_capacity)

    images_verb = verbs.add_parser(
        "images", help="every image the stack deploys, upstream and as pulled, and which to copy into the mirror"
    )
    _stack_arguments(images_verb)
    images_verb.add_argument(
        "--copy-only", action="store_true",
        help="print only the images to copy yourself, one '<source> <destination>' line each (for crane copy)",
    )  # fmt: skip
    images_verb.set_defaults(handler=_images)

    smoke.add_parser(verbs)
    loadtest.add_parser(verbs)
    return parser


def _stack_arguments(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    verb.add_argument("--config-file", help="any file in the stack file format")


def _render(args: argparse.Namespace) -> int:
    stack = load_stack(args.stack, args.config_file)
    from tools import render

    out_dir = args.out or REPO_ROOT / "build" / args.stack
    written, redactions = render.write(render.render(stack), out_dir)
    for path in written:
        print(f"wrote {path}")
    if redactions:
        print(f"redacted {redactions} token-like strings from the render files (secrets belong in secret config)")
    return EXIT_OK


def _capacity(args: argparse.Namespace) -> int:
    stack = load_stack(args.stack, args.config_file, capacity_gate=False)
    from tools import capacity_table

    capacity = stack.spec.capacities
    print(capacity_table.table(stack.spec, capacity))
    for line in capacity_table.findings(capacity):
        print(line)
    rejected = any(not figures.fits for figures in capacity.values())
    return EXIT_INPUT if rejected else EXIT_OK


def _images(args: argparse.Namespace) -> int:
    stack = load_stack(args.stack, args.config_file)
    from tools import image_list, render

    images = image_list.stack_images(stack.spec)
    try:
        image_list.check_against_render(images, render.render(stack))
    except image_list.UnlistedImage as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FINDINGS
    lines = image_list.copy_lines(images) if args.copy_only else image_list.listing(args.stack, stack.spec, images)
    for line in lines:
        print(line)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    if args.from_dir is not None and args.stack:
        raise InputError("check --from DIR takes no stack (its --config-file names the stack file it came from)")
    if args.from_dir is None and not args.stack:
        raise InputError("check needs a stack name, or --from DIR")
    stack = load_stack(args.stack, args.config_file) if args.from_dir is None else None
    from tools import check, policy_gate, render_integrity
    from tools.schemas import DEFAULT_SCHEMAS_DIR

    policy_config = policy_gate.reconcile(
        policy_gate.read_policy_config(args.policy_config), source=str(args.policy_config or "policy config")
    )
    progress = check.to_stderr(str(args.from_dir) if args.from_dir is not None else args.stack or "check")
    rendered, label = _rendered_for_check(args, stack, progress)
    lines = check.findings(rendered, args.schemas or DEFAULT_SCHEMAS_DIR, policy_config, progress)
    if args.from_dir is not None:
        # Handed files are cross-checked, and the figures they carry recomputed, before they count.
        integrity = progress.stage(
            render_integrity.CHECK, lambda: render_integrity.findings(rendered, args.config_file)
        )
        lines = integrity + lines
    if stack is not None:
        lines = [
            f"secret-config {stack.source}: {path}: {message}" for path, message in plaintext_secrets(stack.config)
        ] + lines
    advisories = check.advisories(rendered, policy_config)
    # Findings quote what the render holds, and a hand-edited render may hold anything.
    for line in [*lines, *advisories]:
        print(redacted(line))
    for note in check.notes(rendered):
        print(f"note: {redacted(note)}")
    progress.summary()
    print(f"{label}: {len(rendered.manifests)} objects, {len(advisories)} advisory, {len(lines)} findings")
    return EXIT_FINDINGS if lines else EXIT_OK


def _rendered_for_check(
    args: argparse.Namespace, stack: StackInput | None, progress: check.Progress
) -> tuple[render.Rendered, str]:
    from tools import check, render

    if stack is None:
        rendered, seconds = check.timed(lambda: _read_render(args.from_dir))
        progress.say(f"read {len(rendered.manifests)} objects in {seconds:.1f} s")
        return rendered, str(args.from_dir)
    rendered, seconds = check.timed(lambda: render.render(stack))
    progress.say(f"render {seconds:.1f} s, {len(rendered.manifests)} objects (config, capacity gate, mock runtime)")
    return rendered, args.stack


def _read_render(out_dir: Path) -> render.Rendered:
    from tools import render

    missing = [name for name in render.FILES if not (out_dir / name).is_file()]
    if missing:
        raise InputError(f"{out_dir}: not a render output (missing {', '.join(missing)}); run 'python -m tools render'")
    try:
        return render.read(out_dir)
    # json.JSONDecodeError and safe_yaml.YamlRefused are ValueErrors; JSON nested too deep
    # for the json module raises RecursionError.
    except (ValueError, RecursionError, yaml.YAMLError) as error:
        raise InputError(f"{out_dir}: unreadable render output: {error}") from None


if __name__ == "__main__":
    sys.exit(main())

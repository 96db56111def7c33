"""The architecture refactor (issue 14) changes no behaviour: every shipped stack renders
byte for byte as it did before it began (tests/fixtures/renders, rendered at that point).

Kept for the duration of the refactor. A commit of another issue that changes a render on
purpose regenerates the fixtures (`python -m tests.test_render_fixtures`) and says why in
its message; the refactor's own commits never do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SHIPPED_STACKS
from tools import render
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "renders"


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def rendered_dir(request, tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(request.param)
    render.write(render.render(load_stack(request.param)), out)
    return request.param, out


@pytest.mark.parametrize("name", render.FILES)
def test_render_is_byte_identical_to_the_pre_refactor_fixture(rendered_dir, name):
    stack, out = rendered_dir
    expected = (FIXTURES / stack / name).read_bytes()
    assert (out / name).read_bytes() == expected, (
        f"{stack}/{name} differs from tests/fixtures/renders/{stack}/{name}: a refactor changed behaviour"
    )


def _regenerate() -> None:
    for stack in SHIPPED_STACKS:
        for path in render.write(render.render(load_stack(stack)), FIXTURES / stack):
            print(f"wrote {path}")


if __name__ == "__main__":
    _regenerate()
    sys.exit(0)

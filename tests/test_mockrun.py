"""The mock runtime works in a process that has used `asyncio.run` before (the day-two
tools do), which leaves the main thread without a current event loop."""

from __future__ import annotations

import asyncio

import pulumi
import pytest

from tools.mockrun import record

pytestmark = pytest.mark.program


def test_recording_after_asyncio_run():
    asyncio.run(asyncio.sleep(0))
    recording = record(lambda: pulumi.export("answer", 42))
    assert recording.outputs["answer"] == 42

"""Bounded waits for the tests: poll a condition instead of sleeping a guessed time.

The timeout is a bound on a failing run, not the expected delay: a passing test returns as soon as the
condition holds. Both return the condition's truthy value, so a wait can also fetch what it waited for.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    """Call ``condition`` until it returns a truthy value and return that value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})")
        time.sleep(interval)


async def async_wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05,  # noqa: ASYNC109
                         what: str = "condition") -> Any:
    """As :func:`wait_for`, without blocking the loop; ``condition`` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})")
        await asyncio.sleep(interval)

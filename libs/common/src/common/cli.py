"""The command line every service offers: `python -m <service> migrate|relay|consume|...`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

Command = Callable[[], Coroutine[Any, Any, None]]


async def run_until_signalled(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run a long-lived loop until SIGINT/SIGTERM sets the stop event."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await body(stop)


def main(*, prog: str, commands: Mapping[str, tuple[str, Command]]) -> None:
    """Parse `argv` and run one command."""
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in commands.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args()
    asyncio.run(commands[args.command][1]())

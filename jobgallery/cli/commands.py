"""Shared plumbing for sub-command modules: adding a parser with help and an example."""

from __future__ import annotations

import argparse


def add_command(commands, name: str, summary: str, example: str, func) -> argparse.ArgumentParser:
    """Every command says what it does in one line and shows an example in its ``--help``."""
    parser = add_group(commands, name, summary, example)
    parser.set_defaults(func=func)
    return parser


def add_group(commands, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` shows a one-line summary and an example; groups of actions use it too."""
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def one_line(text: str) -> str:
    """Tabs and newlines in user text would break tab-separated output."""
    return " ".join(text.split())

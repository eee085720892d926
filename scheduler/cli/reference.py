"""The option lists of docs/cli.md, generated from the click commands themselves.

docs/cli.md is written by hand (what each command is for, examples), except the blocks
between `<!-- options: NAME -->` and `<!-- end options -->`, which this module rewrites from
the commands' own parameters, so the reference cannot drift from the code:

    .venv/bin/python -m scheduler.cli.reference docs/cli.md          # rewrite the blocks
    .venv/bin/python -m scheduler.cli.reference --check docs/cli.md  # exit 1 if stale

`tests/cli/test_cli_reference.py` fails when a command has no section or a block is stale.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import click

BLOCK = re.compile(
    r"(<!-- options: (?P<name>[a-z -]+) -->\n)(?P<body>.*?)(<!-- end options -->)", re.S
)


def commands() -> Iterator[tuple[str, click.Command]]:
    """Every command by its full name ("check", "db copy"), groups' sub-commands included."""
    from scheduler.cli import COMMANDS, cli

    context = click.Context(cli, info_name="clockd")
    for name in COMMANDS:
        command = cli.get_command(context, name)
        if command is None:
            continue
        yield name, command
        if isinstance(command, click.Group):
            for sub in command.list_commands(context):
                child = command.get_command(context, sub)
                if child is not None:
                    yield f"{name} {sub}", child


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def options_block(name: str, command: click.Command) -> str:
    """The usage line and a table of arguments and options, as markdown."""
    context = click.Context(command, info_name=f"clockd {name}")
    usage = " ".join(command.collect_usage_pieces(context))
    lines = ["```", f"clockd {name} {usage}".rstrip(), "```", ""]
    rows = []
    for param in command.get_params(context):
        if isinstance(param, click.Argument):
            rows.append((f"`{param.human_readable_name}`", _argument_text(param)))
            continue
        if not isinstance(param, click.Option) or param.hidden or "--help" in param.opts:
            continue
        names = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        if not param.is_flag and not param.count:
            names += f" `{param.make_metavar(context)}`"
        text = param.help or ""
        default = param.default
        if isinstance(default, str | int | float) and default != "" and not param.is_flag:
            text += f" (default: `{default}`)"
        if param.envvar:
            text += f" (environment: `{param.envvar}`)"
        rows.append((names, text))
    if rows:
        lines += ["| argument or option | what it does |", "|---|---|"]
        lines += [f"| {_cell(left)} | {_cell(right)} |" for left, right in rows]
        lines.append("")
    return "\n".join(lines)


def _argument_text(param: click.Argument) -> str:
    kind = "required" if param.required else "optional"
    return f"argument, {kind}" + (", repeatable" if param.nargs == -1 else "")


def rewrite(text: str) -> str:
    """`text` with every options block regenerated."""
    known = dict(commands())

    def block(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in known:
            raise SystemExit(f"docs/cli.md: no command 'clockd {name}'")
        return match.group(1) + options_block(name, known[name]) + match.group(4)

    return BLOCK.sub(block, text)


def missing(text: str) -> list[str]:
    """Commands without an options block in `text`."""
    present = {match.group("name") for match in BLOCK.finditer(text)}
    return [name for name, _ in commands() if name not in present]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    if len(paths) != 1:
        print("usage: python -m scheduler.cli.reference [--check] docs/cli.md", file=sys.stderr)
        return 2
    path = Path(paths[0])
    text = path.read_text(encoding="utf-8")
    new = rewrite(text)
    absent = missing(new)
    for name in absent:
        print(
            f"{path}: no section for 'clockd {name}' (add '<!-- options: {name} -->')",
            file=sys.stderr,
        )
    if check:
        if new != text:
            print(
                f"{path}: option lists are stale; run python -m scheduler.cli.reference {path}",
                file=sys.stderr,
            )
        return 1 if new != text or absent else 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 1 if absent else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

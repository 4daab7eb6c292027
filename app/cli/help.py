"""The command line's --help: the introduction, and a command list laid out one command per line.

Click rewraps every paragraph of a group's help into one and cuts each command's summary to
fit a fixed width, which ran the command list together; `\\b` keeps the usage line as written
and `CommandList` prints each command with its arguments and whole first line."""
import click

HELP = """Command line for operators: talks to a running server over HTTP, local or remote.

\b
    python -m app.cli [--url http://host:5000] [--api-key KEY] COMMAND ...
    python -m app.cli COMMAND --help      the options of one command
"""


def command_summary(command: click.Command) -> str:
    """The first paragraph of a command's help, whole (click's own short help is cut at ~45 characters)."""
    text = command.short_help or (command.help or "").split("\n\n")[0]
    return " ".join(text.split())


class CommandList(click.Group):
    """A click group whose --help lists each command on its own line: name, arguments, summary."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            arguments = " ".join(p.make_metavar(ctx) for p in command.params if isinstance(p, click.Argument))
            rows.append((f"{name} {arguments}".strip(), command_summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows, col_max=24)

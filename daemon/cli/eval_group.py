"""`antiphon eval`: a group of evaluations whose first word may also be a model.

`antiphon eval MODEL...` scores models on held-out music (training.evaluate), as it always
has; `antiphon eval answers` measures a model's answers beside the real continuations of
the same calls, `antiphon eval critic` how well the answer critic tells real continuations
from sampled ones, and `antiphon eval keys` is `antiphon eval-keys`. A first argument that
names no subcommand (a model, an option, nothing at all) goes to `antiphon eval models`,
so every command line written before the group still means what it meant. A model file
named like a subcommand is reached as `antiphon eval models answers` or `./answers`.

The group's commands are registered on it in app.py, the one module that imports the
command modules.
"""

import typer
from typer.core import TyperGroup

DEFAULT_COMMAND = "models"


class EvalGroup(TyperGroup):
    """A group that hands any first argument it has no subcommand for to DEFAULT_COMMAND."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands
                        and args[0] not in ctx.help_option_names):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=EvalGroup,
    help="Evaluate models: `antiphon eval MODEL...` scores them on held-out music (as "
         "`antiphon eval models`); `antiphon eval answers` measures their answers beside "
         "the real continuations.",
    add_completion=False,
    pretty_exceptions_enable=False,
)

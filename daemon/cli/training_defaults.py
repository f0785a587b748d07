"""The training commands' option defaults, taken from the training package's config
modules when they are needed: shown in a command's help, or used for an option left out.

The daemon imports antiphon.training only inside functions (`antiphon run` must not load
it; tests/test_dependency_rules.py), so an option's default here is an object, not a
value: click calls it for the value when the option is not given, and typer prints it
(`str`) after the option's help as `[default: ...]`. Both read
`antiphon.training.fit.train_config` or `antiphon.training.families.token_configs`, which
import no torch, so `antiphon train --help` stays quick and works without the `train`
extra. A default changed there is the command's default, and its help, at once.
"""

from __future__ import annotations


def _shown(value: object) -> str:
    """A value as typer shows a default: a pair as `-5, 6`."""
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value))
    return str(value)


class TrainingDefault:
    """A training setting's default for one command: the field of that command's
    `TrainConfig` in `train_config.COMMAND_TRAINING` ("train", "train-frames",
    "train-small")."""

    def __init__(self, command: str, field: str) -> None:
        self.command, self.field = command, field

    def __call__(self) -> object:
        from antiphon.training.fit.train_config import COMMAND_TRAINING

        return getattr(COMMAND_TRAINING[self.command], self.field)

    def __str__(self) -> str:
        return _shown(self())

    def __repr__(self) -> str:
        return f"TrainingDefault({self.command!r}, {self.field!r})"


class FamilyDefault:
    """A model option of `antiphon train`: left out, it is None, and the family trained
    takes its own value (`token_configs.TOKEN_FAMILY_DEFAULTS`). The help shows that value,
    per family where they differ: `2 recurrent, 4 transformer`."""

    def __init__(self, option: str) -> None:
        self.option = option

    def __call__(self) -> None:
        return None  # not given: `commands.family_model_config` fills in the family's

    def values(self) -> dict[str, object]:
        """The option's default per token family that has it."""
        from antiphon.training.families.token_configs import family_option_defaults

        return family_option_defaults(self.option)

    def __str__(self) -> str:
        values = self.values()
        if len(set(values.values())) == 1:
            return _shown(next(iter(values.values())))
        return ", ".join(f"{_shown(value)} {family}" for family, value in values.items())

    def __repr__(self) -> str:
        return f"FamilyDefault({self.option!r})"


class CommandDefaults:
    """`TRAIN.epochs` is `TrainingDefault("train", "epochs")`: defaults by attribute, so an
    option reads `epochs: ... = TRAIN.epochs`."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __getattr__(self, field: str) -> TrainingDefault:
        if field.startswith("_"):  # copy, pickle and friends probing for hooks
            raise AttributeError(field)
        return TrainingDefault(self.command, field)


class FamilyDefaults:
    """`FAMILY.hidden` is `FamilyDefault("hidden")`."""

    def __getattr__(self, option: str) -> FamilyDefault:
        if option.startswith("_"):
            raise AttributeError(option)
        return FamilyDefault(option)


TRAIN = CommandDefaults("train")
TRAIN_FRAMES = CommandDefaults("train-frames")
TRAIN_SMALL = CommandDefaults("train-small")
FAMILY = FamilyDefaults()

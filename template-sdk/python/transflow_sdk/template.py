"""What a template implements, and the class componentize-py exports for it."""

from abc import ABC, abstractmethod

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import pipeline

from .context import Context
from .describe import TemplateInfo
from .errors import StepError


class Template(ABC):
    """What a template implements. The host calls ``describe`` to learn the steps, then
    ``run_step`` once per step in dependency order."""

    @abstractmethod
    def describe(self) -> TemplateInfo:
        """The template's id, steps, fields and optional webhook. Must not call host functions."""

    @abstractmethod
    def run_step(self, step: str, ctx: Context) -> None:
        """Runs one step; ``ctx`` gives its inputs, outputs, fields, ffmpeg and progress. Raising
        fails the step: a ``StepError`` as it is, a host error with its own code, anything else
        as ``StepError.failed``."""


def export(template: type[Template]) -> type:
    """The ``Pipeline`` class componentize-py exports. Use it once, in the template's app module:
    ``Pipeline = export(MyTemplate)``."""
    instance = template()

    class Pipeline(exports.Pipeline):
        def describe(self) -> pipeline.TemplateInfo:
            return instance.describe().to_wit()

        def run_step(self, step: str) -> None:
            try:
                instance.run_step(step, Context(step))
            except Exception as raised:  # every failure becomes the step's error, none a crash
                raise Err(StepError.of(raised).payload) from None

    return Pipeline

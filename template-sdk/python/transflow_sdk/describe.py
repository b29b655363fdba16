"""Builders for what ``describe()`` returns."""

from dataclasses import dataclass
from typing import Optional

from wit_world.exports import pipeline

#: The ``uses`` entry that means "the assembly's uploads".
ORIGINAL = ":original"


@dataclass
class Webhook:
    """Where to POST the assembly status when an assembly ends."""

    url: str
    #: Name of a signing secret in the host configuration (never the secret itself).
    secret_name: Optional[str] = None


class StepInfo:
    """One step of a pipeline."""

    def __init__(self, name: str, description: str) -> None:
        """A step that uses nothing yet; add ``uses``."""
        self.name = name
        self.description = description
        self._uses: list[str] = []

    def uses(self, step: str) -> "StepInfo":
        """Consumes the results of ``step``, or the uploads when ``step`` is ``ORIGINAL``."""
        self._uses.append(step)
        return self

    def to_wit(self) -> pipeline.StepInfo:
        return pipeline.StepInfo(self.name, self.description, list(self._uses))


class TemplateInfo:
    """A template's id, description, steps, fields and optional webhook."""

    def __init__(self, id: str, description: str) -> None:
        """A template with no steps yet."""
        self.id = id
        self.description = description
        self._steps: list[StepInfo] = []
        self._fields: list[pipeline.FieldInfo] = []
        self._webhook: Optional[Webhook] = None

    def step(self, step: StepInfo) -> "TemplateInfo":
        """Adds a step; the host runs steps in dependency order."""
        self._steps.append(step)
        return self

    def field(self, name: str, description: str, default_value: Optional[str] = None) -> "TemplateInfo":
        """Documents a user field the template reads."""
        self._fields.append(pipeline.FieldInfo(name, description, default_value))
        return self

    def webhook(self, webhook: Webhook) -> "TemplateInfo":
        """Posts the assembly status to ``webhook`` when an assembly ends."""
        self._webhook = webhook
        return self

    def to_wit(self) -> pipeline.TemplateInfo:
        hook = self._webhook and pipeline.Webhook(self._webhook.url, self._webhook.secret_name)
        return pipeline.TemplateInfo(
            self.id, self.description, [s.to_wit() for s in self._steps], list(self._fields), hook
        )

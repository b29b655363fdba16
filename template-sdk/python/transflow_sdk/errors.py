"""Errors a step raises. Host errors pass through unchanged so the assembly status can say exactly
which tool failed and why."""

import traceback

from componentize_py_types import Err
from wit_world.exports import pipeline
from wit_world.imports import log


class StepError(Exception):
    """Why a step failed. Raise one from ``run_step``; any other exception becomes
    ``StepError.failed`` with its message, and host errors keep their own code."""

    def __init__(self, payload: pipeline.StepError, message: str) -> None:
        super().__init__(message)
        #: The WIT ``step-error`` the host receives.
        self.payload = payload

    @staticmethod
    def failed(message: str) -> "StepError":
        """The template's own logic failed; ``message`` is shown to the user."""
        return StepError(pipeline.StepError_Failed(message), message)

    @staticmethod
    def invalid_field(field: str, value: str, expected: str) -> "StepError":
        """A user field has a value the template cannot use."""
        return StepError(
            pipeline.StepError_InvalidField(pipeline.InvalidField(field, value, expected)),
            f"field `{field}` is `{value}`; expected {expected}",
        )

    @staticmethod
    def host(error: object) -> "StepError":
        """A host call failed; the host turns it into the status error."""
        return StepError(pipeline.StepError_Host(error), repr(error))

    @staticmethod
    def of(raised: BaseException) -> "StepError":
        """What a step raised, as a ``StepError``."""
        if isinstance(raised, StepError):
            return raised
        if isinstance(raised, Err):
            return StepError.host(raised.value)
        # The traceback is for the template's author: it goes to the assembly log, not the status.
        log.write(log.Level.ERROR, "".join(traceback.format_exception(raised)))
        return StepError.failed(str(raised) or type(raised).__name__)


def host(call):
    """Calls a host function, turning its error result into a ``StepError``."""
    try:
        return call()
    except Err as error:
        raise StepError.host(error.value) from None

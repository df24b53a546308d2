"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class PipelineError(Exception):
    """A problem with the user's data, params or environment, stated so the user can fix it.

    Anything else that escapes a stage is a bug and keeps its traceback.
    """

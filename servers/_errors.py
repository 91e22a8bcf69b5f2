"""The one exception type that the CLI turns into a one-line error."""


class UserError(Exception):
    """Bad input or an environment problem the user can fix.

    The CLI prints ``echobench: error: <message>`` and exits non-zero, with no
    traceback. Anything else that escapes is a bug and keeps its traceback.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

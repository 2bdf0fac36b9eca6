"""The one exception type a user sees as a single clear line (never a traceback)."""


class BelamyError(Exception):
    """A problem with the user's input or environment, with a hint at the fix.

    The CLI prints ``str(err)`` on one line and exits with ``err.exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)

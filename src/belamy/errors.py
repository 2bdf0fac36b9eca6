"""The one exception type a user sees as a single clear line (never a traceback)."""


class BelamyError(Exception):
    """A problem with the user's input or environment, with a hint at the fix.

    The CLI prints ``str(err)`` on one line and exits with ``err.exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = one_line(str(message))
        self.hint = one_line(str(hint)) if hint else hint
        super().__init__(f"{self.message} ({self.hint})" if self.hint else self.message)


def one_line(text: str) -> str:
    """``text`` as one line: a message that quotes a many-line exception keeps its first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else text.strip()
    return f"{lines[0]} [and {len(lines) - 1} more line(s)]"

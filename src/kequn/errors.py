"""Errors a user can fix (bad input, bad parameters) as opposed to bugs.

A :class:`UserError` reaches the command line as one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input or parameters, reported as one clear line.

    The message should name the file, line or column at fault and, where possible,
    what to do about it.
    """

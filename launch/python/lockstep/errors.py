"""lockstep's errors: where (a file, usually) and what, and the exit status
the command-line tools give for them (2: bad input, 1: failure at run time),
as the C++ code does (core/error.h)."""

EXIT_RUNTIME = 1
EXIT_INPUT = 2


class Error(Exception):
    def __init__(self, where, what, status):
        super().__init__(f"{where}: {what}")
        self.where, self.what, self.status = where, what, status


class CheckpointError(Error, ValueError):
    """A file that is not a valid lockstep checkpoint (exit status 2)."""

    def __init__(self, where, what):
        super().__init__(where, what, EXIT_INPUT)

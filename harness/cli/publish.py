"""squeezebench publish: placeholder until its issue lands."""

HELP = "(not yet implemented)"


def add_arguments(parser):
    pass


def run(args):
    from harness.errors import UsageError

    raise UsageError("'publish' is not implemented yet")

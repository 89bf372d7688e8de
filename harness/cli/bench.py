"""squeezebench bench: placeholder until its issue lands."""

HELP = "(not yet implemented)"


def add_arguments(parser):
    pass


def run(args):
    from harness.errors import UsageError

    raise UsageError("'bench' is not implemented yet")

# Fails its init phase: the module it imports does not exist.
import hearth_e2e_no_such_module  # noqa: F401


def lambda_handler(event, context):
    return "unreachable"

import os
import platform

# Module scope runs once per execution environment (the init phase); what it builds
# survives across warm invocations.
invocations = 0


def lambda_handler(event, context):
    global invocations
    invocations += 1
    return {
        "hello": event.get("name", "world"),
        "function": context.function_name,
        "version": context.function_version,
        "python": platform.python_version(),
        "invocations_in_this_env": invocations,
        "region": os.environ.get("AWS_REGION"),
    }

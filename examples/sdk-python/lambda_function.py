# Invoke another function with the boto3 the runtime bundles, as on AWS: no endpoint
# and no credentials in the code. Hearth sets AWS_ENDPOINT_URL_LAMBDA and the
# execution role's credentials in the environment.
#
#   aws lambda invoke --function-name caller --payload '{"target":"other"}' out.json
import json
import time

import boto3

# Module scope: made once per execution environment, reused by warm invocations.
lam = boto3.client("lambda")


def lambda_handler(event, context):
    target = event.get("target")
    if not target:
        return {"boto3": boto3.__version__}
    t0 = time.perf_counter()
    r = lam.invoke(FunctionName=target, Payload=json.dumps(event.get("payload", {})))
    body = r["Payload"].read()
    return {
        "status": r["StatusCode"],
        "invoke_ms": (time.perf_counter() - t0) * 1000,
        "payload": json.loads(body),
    }

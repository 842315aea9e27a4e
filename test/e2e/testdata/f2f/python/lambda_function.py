# A function that calls other AWS services the way real code does: with the boto3
# the runtime bundles, clients made at module scope, no endpoint or credentials in
# the code. AWS_ENDPOINT_URL_LAMBDA / _STS and the role's credentials come from the
# environment Hearth sets, so the calls reach Hearth.
import json

import boto3
from botocore.config import Config

# One attempt and short timeouts: a test must fail fast, not retry for minutes.
_cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
lam = boto3.client("lambda", config=_cfg)
sts = boto3.client("sts", config=_cfg)


def lambda_handler(event, context):
    out = {"identity": sts.get_caller_identity()["Arn"], "boto3": boto3.__version__}
    if "target" in event:
        r = lam.invoke(FunctionName=event["target"], Payload=json.dumps(event.get("payload", {})))
        out["status"] = r["StatusCode"]
        out["executed"] = r.get("ExecutedVersion")
        out["payload"] = json.loads(r["Payload"].read())
    if "list" in event:
        try:
            lam.list_functions()
            out["list"] = "allowed"
        except lam.exceptions.ClientError as e:
            out["list"] = e.response["Error"]["Code"]
    return out

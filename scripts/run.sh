#!/usr/bin/env bash
# make run: start Hearth with its embedded store, deploy the examples with the AWS
# CLI, show them, and keep serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${HEARTH_LISTEN:-127.0.0.1:9060}
data=${HEARTH_DATA:-./.hearth}
AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)

if curl -fsS "http://$listen/healthz" >/dev/null 2>&1; then
	echo "Something already serves http://$listen (another hearth?). Stop it, or set HEARTH_LISTEN=127.0.0.1:PORT." >&2
	exit 1
fi

./bin/hearth serve --listen "$listen" --data "$data" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 200); do
	curl -fsS "http://$listen/healthz" >/dev/null 2>&1 && break
	kill -0 $pid 2>/dev/null || { echo "hearth serve exited" >&2; exit 1; }
	sleep 0.05
done

export AWS_SHARED_CREDENTIALS_FILE="$data/credentials" AWS_PROFILE=hearth AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
lambda() { "$AWS" lambda --endpoint-url "http://$listen" "$@"; }
show() { echo; echo "\$ aws lambda $*"; lambda "$@"; }

tmp=$(mktemp -d)
(cd examples/python && python3 -m zipfile -c "$tmp/python.zip" lambda_function.py)
(cd examples/node && python3 -m zipfile -c "$tmp/node.zip" index.mjs)
CGO_ENABLED=0 go build -o "$tmp/bootstrap" ./examples/go
(cd "$tmp" && python3 -m zipfile -c go.zip bootstrap)

deploy() { # NAME RUNTIME HANDLER ZIP
	lambda delete-function --function-name "$1" >/dev/null 2>&1 || true
	lambda create-function --function-name "$1" --runtime "$2" --handler "$3" \
		--role arn:aws:iam::000000000000:role/hearth --zip-file "fileb://$4" --query '[FunctionName,Runtime,State]' --output text
}
invoke() { # NAME LABEL
	echo "-- $1, $2:"
	lambda invoke --function-name "$1" --payload '{"name":"hearth"}' --cli-binary-format raw-in-base64-out \
		--log-type Tail "$tmp/out.json" --query LogResult --output text | base64 -d | grep REPORT
	cat "$tmp/out.json"; echo
}

echo; echo "\$ aws lambda create-function ... (python, node, and a Go binary built with aws-lambda-go)"
deploy hello-python python3.12 lambda_function.lambda_handler "$tmp/python.zip"
deploy hello-node nodejs20.x index.handler "$tmp/node.zip"
deploy hello-go provided.al2023 bootstrap "$tmp/go.zip"
echo; echo "\$ aws lambda invoke --log-type Tail ...   (cold: a new sandbox; warm: the same one again)"
for fn in hello-python hello-node hello-go; do
	invoke $fn cold
	invoke $fn warm
done
(cd examples/sdk-python && python3 -m zipfile -c "$tmp/caller.zip" lambda_function.py)
echo; echo "\$ aws lambda invoke --function-name caller ...   (a function invoking hello-go through the bundled boto3: no endpoint, no keys in its code)"
deploy caller python3.12 lambda_function.lambda_handler "$tmp/caller.zip"
lambda invoke --function-name caller --payload '{"target":"hello-go","payload":{"name":"caller"}}' \
	--cli-binary-format raw-in-base64-out "$tmp/out.json" >/dev/null
cat "$tmp/out.json"; echo
show publish-version --function-name hello-go --query '{Version:Version,FunctionArn:FunctionArn}'
show create-alias --function-name hello-go --name live --function-version 1 --query AliasArn
show put-provisioned-concurrency-config --function-name hello-go --qualifier live --provisioned-concurrent-executions 2 --query Status
for _ in $(seq 100); do
	[ "$(lambda get-provisioned-concurrency-config --function-name hello-go --qualifier live --query Status --output text)" = READY ] && break
	sleep 0.2
done
show get-provisioned-concurrency-config --function-name hello-go --qualifier live --query '[Status,AllocatedProvisionedConcurrentExecutions]' --output text
echo; echo "\$ aws lambda invoke --function-name hello-go:live ...   (a provisioned env: initialised ahead, so no Init Duration)"
invoke hello-go:live provisioned
sqs() { "$AWS" sqs --endpoint-url "http://$listen" "$@"; }
echo; echo "\$ aws sqs create-queue --queue-name hello-results   (an SQS queue, served by Hearth on JetStream)"
q=$(sqs create-queue --queue-name hello-results --query QueueUrl --output text); echo "$q"
show put-function-event-invoke-config --function-name hello-python \
	--destination-config '{"OnSuccess":{"Destination":"arn:aws:sqs:us-east-1:000000000000:hello-results"}}' --query DestinationConfig
echo; echo "\$ aws lambda invoke --invocation-type Event ...   (202 once the event is stored; the success record goes to the queue)"
lambda invoke --function-name hello-python --invocation-type Event --payload '{"name":"async"}' --cli-binary-format raw-in-base64-out \
	"$tmp/out.json" --query StatusCode --output text
echo; echo "\$ aws sqs receive-message --queue-url $q --wait-time-seconds 10"
sqs receive-message --queue-url "$q" --wait-time-seconds 10 --query 'Messages[0].Body' --output text
rm -rf "$tmp"
echo
echo "Hearth keeps serving on http://$listen — Ctrl-C stops it. In another shell:"
echo "  export AWS_SHARED_CREDENTIALS_FILE=$data/credentials AWS_PROFILE=hearth AWS_REGION=us-east-1"
echo "  aws lambda invoke --endpoint-url http://$listen --function-name hello-python --payload '{}' out.json"
echo "  ./bin/hearth logs hello-python --follow"
wait $pid

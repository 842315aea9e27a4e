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
lambda delete-function --function-name hello-python >/dev/null 2>&1 || true
show create-function --function-name hello-python --runtime python3.12 --handler lambda_function.lambda_handler \
	--role arn:aws:iam::000000000000:role/hearth --zip-file "fileb://$tmp/python.zip" \
	--query '{FunctionArn:FunctionArn,CodeSha256:CodeSha256,State:State}'
show wait function-active-v2 --function-name hello-python
show publish-version --function-name hello-python --query '{Version:Version,FunctionArn:FunctionArn}'
show create-alias --function-name hello-python --name live --function-version 1 --query AliasArn
show list-functions --function-version ALL --query 'Functions[].[FunctionName,Version,Runtime,CodeSize]' --output table
rm -rf "$tmp"

echo
echo "Hearth keeps serving on http://$listen — Ctrl-C stops it. In another shell:"
echo "  export AWS_SHARED_CREDENTIALS_FILE=$data/credentials AWS_PROFILE=hearth AWS_REGION=us-east-1"
echo "  aws lambda list-functions --endpoint-url http://$listen"
wait $pid

#!/usr/bin/env bash
# The AWS CLI against a real `hearth serve`: create → wait → publish → alias → update
# → wait → errors → delete, asserting what the CLI prints. Run by `make test`.
set -euo pipefail

HEARTH=${HEARTH:-./bin/hearth}
AWS=${AWS:-/usr/bin/aws}
[ -x "$AWS" ] || AWS=$(command -v aws)
work=$(mktemp -d)
log="$work/serve.log"
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- serve log" >&2; cat "$log" >&2; exit 1; }

"$HEARTH" serve --listen 127.0.0.1:0 --data "$work/data" 2>"$log" &
pid=$!
addr=""
for _ in $(seq 1 200); do
	addr=$(sed -n 's|.*Lambda API on http://\([0-9.:]*\).*|\1|p' "$log" | head -1)
	[ -n "$addr" ] && break
	sleep 0.05
done
[ -n "$addr" ] || fail "hearth serve did not start"

export AWS_SHARED_CREDENTIALS_FILE="$work/data/credentials" AWS_PROFILE=hearth AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
[ "$(stat -c %a "$AWS_SHARED_CREDENTIALS_FILE")" = 600 ] || fail "credentials file is not mode 0600"
lambda() { "$AWS" lambda --endpoint-url "http://$addr" "$@"; }

mkdir -p "$work/code"
printf 'def lambda_handler(event, context):\n    return event\n' >"$work/code/lambda_function.py"
(cd "$work/code" && python3 -m zipfile -c ../fn.zip lambda_function.py)
sha=$(python3 -c 'import base64,hashlib,sys;print(base64.b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$work/fn.zip")

out=$(lambda create-function --function-name cli-fn --runtime python3.12 --handler lambda_function.lambda_handler \
	--role arn:aws:iam::000000000000:role/hearth --zip-file "fileb://$work/fn.zip" --query '[FunctionArn,CodeSha256,State]' --output text)
[ "$out" = "arn:aws:lambda:us-east-1:000000000000:function:cli-fn	$sha	Active" ] || fail "create-function printed: $out"

lambda wait function-active-v2 --function-name cli-fn || fail "wait function-active-v2"

v=$(lambda publish-version --function-name cli-fn --description first --query Version --output text)
[ "$v" = 1 ] || fail "publish-version printed $v"
v=$(lambda publish-version --function-name cli-fn --query Version --output text)
[ "$v" = 1 ] || fail "publishing unchanged code made version $v"

out=$(lambda create-alias --function-name cli-fn --name live --function-version 1 --query AliasArn --output text)
[ "$out" = "arn:aws:lambda:us-east-1:000000000000:function:cli-fn:live" ] || fail "create-alias printed $out"

printf 'def lambda_handler(event, context):\n    return {"v": 2}\n' >"$work/code/lambda_function.py"
(cd "$work/code" && rm -f ../fn2.zip && python3 -m zipfile -c ../fn2.zip lambda_function.py)
lambda update-function-code --function-name cli-fn --zip-file "fileb://$work/fn2.zip" >/dev/null
lambda wait function-updated-v2 --function-name cli-fn || fail "wait function-updated-v2"
v=$(lambda publish-version --function-name cli-fn --query Version --output text)
[ "$v" = 2 ] || fail "publish after update made version $v"
lambda update-alias --function-name cli-fn --name live --function-version 2 \
	--routing-config '{"AdditionalVersionWeights":{"1":0.25}}' >/dev/null
out=$(lambda get-alias --function-name cli-fn --name live --query 'RoutingConfig.AdditionalVersionWeights."1"' --output text)
[ "$out" = 0.25 ] || fail "alias weight printed $out"

lambda put-function-concurrency --function-name cli-fn --reserved-concurrent-executions 7 >/dev/null
out=$(lambda get-function --function-name cli-fn --query Concurrency.ReservedConcurrentExecutions --output text)
[ "$out" = 7 ] || fail "reserved concurrency printed $out"

# Provisioned concurrency: 202 IN_PROGRESS, then READY; the first invoke has no init.
out=$(lambda put-provisioned-concurrency-config --function-name cli-fn --qualifier 1 --provisioned-concurrent-executions 2 --query Status --output text)
[ "$out" = IN_PROGRESS ] || fail "put-provisioned-concurrency-config printed $out"
for _ in $(seq 1 300); do
	out=$(lambda get-provisioned-concurrency-config --function-name cli-fn --qualifier 1 --query '[Status,AllocatedProvisionedConcurrentExecutions]' --output text)
	[ "$out" = "READY	2" ] && break
	sleep 0.1
done
[ "$out" = "READY	2" ] || fail "provisioned concurrency never READY: $out"
lambda invoke --function-name cli-fn --qualifier 1 --payload '{}' --cli-binary-format raw-in-base64-out --log-type Tail "$work/pc.json" \
	--query LogResult --output text | base64 -d >"$work/pc.log"
grep -q 'REPORT RequestId' "$work/pc.log" || fail "no REPORT line: $(cat "$work/pc.log")"
if grep -q 'Init Duration' "$work/pc.log"; then fail "a provisioned env's first invoke reported an init: $(cat "$work/pc.log")"; fi
out=$(lambda list-provisioned-concurrency-configs --function-name cli-fn --query 'ProvisionedConcurrencyConfigs[0].FunctionArn' --output text)
[ "$out" = "arn:aws:lambda:us-east-1:000000000000:function:cli-fn:1" ] || fail "list-provisioned-concurrency-configs printed $out"
if err=$(lambda put-provisioned-concurrency-config --function-name cli-fn --qualifier 1 --provisioned-concurrent-executions 8 2>&1); then fail "provisioned 8 over reserved 7 accepted"; fi
echo "$err" | grep -q 'InvalidParameterValueException.*should not be greater than the reservedConcurrentExecution' || fail "provisioned over reserved printed: $err"
if err=$(lambda put-provisioned-concurrency-config --function-name cli-fn --qualifier '$LATEST' --provisioned-concurrent-executions 1 2>&1); then fail "provisioned \$LATEST accepted"; fi
echo "$err" | grep -q 'unpublished function versions' || fail "provisioned \$LATEST printed: $err"
if err=$(lambda put-function-concurrency --function-name cli-fn --reserved-concurrent-executions 1 2>&1); then fail "reserved below provisioned accepted"; fi
echo "$err" | grep -q "lower than function's total provisioned concurrency \[2\]" || fail "reserved below provisioned printed: $err"
lambda delete-provisioned-concurrency-config --function-name cli-fn --qualifier 1
if err=$(lambda get-provisioned-concurrency-config --function-name cli-fn --qualifier 1 2>&1); then fail "a deleted config is still there"; fi
echo "$err" | grep -q ProvisionedConcurrencyConfigNotFoundException || fail "deleted config printed: $err"

lambda tag-resource --resource arn:aws:lambda:us-east-1:000000000000:function:cli-fn --tags team=hearth
out=$(lambda list-tags --resource arn:aws:lambda:us-east-1:000000000000:function:cli-fn --query Tags.team --output text)
[ "$out" = hearth ] || fail "list-tags printed $out"

# Asynchronous invocation's configuration: EventInvokeConfigs on $LATEST and an alias
# (put replaces, update merges), AWS's errors, recursive loop detection.
lambda create-function --function-name cli-dest --runtime python3.12 --handler lambda_function.lambda_handler \
	--role arn:aws:iam::000000000000:role/hearth --zip-file "fileb://$work/fn.zip" >/dev/null
fn_arn=arn:aws:lambda:us-east-1:000000000000:function:cli-fn
dest_arn=arn:aws:lambda:us-east-1:000000000000:function:cli-dest
out=$(lambda put-function-event-invoke-config --function-name cli-fn --maximum-retry-attempts 1 --query '[FunctionArn,MaximumRetryAttempts]' --output text)
[ "$out" = "$fn_arn:\$LATEST	1" ] || fail "put-function-event-invoke-config printed: $out"
out=$(lambda update-function-event-invoke-config --function-name cli-fn --maximum-event-age-in-seconds 120 \
	--destination-config "{\"OnFailure\":{\"Destination\":\"$dest_arn\"}}" \
	--query '[MaximumRetryAttempts,MaximumEventAgeInSeconds,DestinationConfig.OnFailure.Destination]' --output text)
[ "$out" = "1	120	$dest_arn" ] || fail "update-function-event-invoke-config printed: $out"
lambda put-function-event-invoke-config --function-name cli-fn --qualifier live --maximum-retry-attempts 0 >/dev/null
out=$(lambda get-function-event-invoke-config --function-name cli-fn --qualifier live --query '[MaximumRetryAttempts,DestinationConfig.OnFailure.Destination]' --output text)
[ "$out" = "0	None" ] || fail "get-function-event-invoke-config printed: $out"
out=$(lambda list-function-event-invoke-configs --function-name cli-fn --max-items 5 --query 'FunctionEventInvokeConfigs[].FunctionArn' --output text)
[ "$out" = "$fn_arn:\$LATEST	$fn_arn:live" ] || fail "list-function-event-invoke-configs printed: $out"
if err=$(lambda put-function-event-invoke-config --function-name cli-fn --destination-config "{\"OnSuccess\":{\"Destination\":\"$fn_arn\"}}" 2>&1); then fail "a function as its own destination accepted"; fi
echo "$err" | grep -q "InvalidParameterValueException.*You can't specify the function as a destination for itself." || fail "self destination printed: $err"
if err=$(lambda put-function-event-invoke-config --function-name cli-fn --maximum-retry-attempts 3 2>&1); then fail "3 retries accepted"; fi
echo "$err" | grep -q "ValidationException.*Member must have value less than or equal to 2" || fail "3 retries printed: $err"
if err=$(lambda put-function-event-invoke-config --function-name cli-fn --destination-config '{"OnFailure":{"Destination":"arn:aws:sns:us-east-1:000000000000:t"}}' 2>&1); then fail "an SNS destination accepted"; fi
echo "$err" | grep -q "InvalidParameterValueException.*Hearth cannot deliver to SNS topics yet" || fail "SNS destination printed: $err"
lambda delete-function-event-invoke-config --function-name cli-fn --qualifier live
if err=$(lambda get-function-event-invoke-config --function-name cli-fn --qualifier live 2>&1); then fail "a deleted event invoke config is still there"; fi
echo "$err" | grep -q "ResourceNotFoundException.*The function $fn_arn:live doesn't have an EventInvokeConfig" || fail "deleted event invoke config printed: $err"
# The recursion-config commands arrived in aws-cli 2.17 / 1.33 (2024).
if out=$(lambda get-function-recursion-config --function-name cli-fn --query RecursiveLoop --output text 2>&1); then
	[ "$out" = Terminate ] || fail "get-function-recursion-config printed $out"
	out=$(lambda put-function-recursion-config --function-name cli-fn --recursive-loop Allow --query RecursiveLoop --output text)
	[ "$out" = Allow ] || fail "put-function-recursion-config printed $out"
	out=$(lambda get-function-recursion-config --function-name cli-fn --query RecursiveLoop --output text)
	[ "$out" = Allow ] || fail "recursion config after put printed $out"
elif echo "$out" | grep -q "Invalid choice"; then
	echo "cli roundtrip: $("$AWS" --version 2>&1 | cut -d' ' -f1) has no recursion-config commands; skipped them" >&2
else
	fail "get-function-recursion-config printed: $out"
fi
if err=$(lambda update-function-configuration --function-name cli-fn --dead-letter-config TargetArn=arn:aws:sns:us-east-1:000000000000:t 2>&1); then fail "an SNS dead-letter queue accepted"; fi
echo "$err" | grep -q "InvalidParameterValueException.*SNS" || fail "SNS dead-letter queue printed: $err"
# An SQS queue Hearth serves: a dead-letter queue (an empty TargetArn removes it) and
# an on-failure destination.
dlq_arn=arn:aws:sqs:us-east-1:000000000000:cli-dlq
"$AWS" sqs --endpoint-url "http://$addr" create-queue --queue-name cli-dlq >/dev/null || fail "sqs create-queue failed"
out=$(lambda update-function-configuration --function-name cli-fn --dead-letter-config "TargetArn=$dlq_arn" --query DeadLetterConfig.TargetArn --output text)
[ "$out" = "$dlq_arn" ] || fail "update-function-configuration --dead-letter-config printed $out"
lambda wait function-updated-v2 --function-name cli-fn || fail "wait function-updated-v2 after the dead-letter queue"
out=$(lambda get-function-configuration --function-name cli-fn --query DeadLetterConfig.TargetArn --output text)
[ "$out" = "$dlq_arn" ] || fail "get-function-configuration's DeadLetterConfig printed $out"
out=$(lambda update-function-configuration --function-name cli-fn --dead-letter-config TargetArn= --query DeadLetterConfig.TargetArn --output text)
[ "$out" = None ] || fail "an empty TargetArn left $out"
out=$(lambda put-function-event-invoke-config --function-name cli-fn --destination-config "{\"OnFailure\":{\"Destination\":\"$dlq_arn\"}}" --query DestinationConfig.OnFailure.Destination --output text)
[ "$out" = "$dlq_arn" ] || fail "an SQS on-failure destination printed $out"
# An Event invoke: 202, and the success record reaches an on-success queue, read back
# with the CLI's SQS (the query protocol); `hearth async` counts it.
ok_url=$("$AWS" sqs --endpoint-url "http://$addr" create-queue --queue-name cli-ok --query QueueUrl --output text) || fail "sqs create-queue cli-ok failed"
lambda put-function-event-invoke-config --function-name cli-fn --qualifier 1 \
	--destination-config '{"OnSuccess":{"Destination":"arn:aws:sqs:us-east-1:000000000000:cli-ok"}}' >/dev/null
out=$(lambda invoke --function-name cli-fn --qualifier 1 --invocation-type Event --payload '{"k":"v"}' --cli-binary-format raw-in-base64-out "$work/ev.json" --query StatusCode --output text)
[ "$out" = 202 ] || fail "an Event invoke printed $out"
out=$("$AWS" sqs --endpoint-url "http://$addr" receive-message --queue-url "$ok_url" --wait-time-seconds 20 --query 'Messages[0].Body' --output text)
echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); c=r["requestContext"]; assert c["condition"]=="Success" and c["functionArn"].endswith(":cli-fn:1") and r["requestPayload"]=={"k":"v"} and r["responsePayload"]=={"k":"v"}, r' ||
	fail "the success record printed: $out"
out=$(HEARTH_ENDPOINT="http://$addr" "$HEARTH" async | awk '$1=="cli-fn"{print $4}')
[ "$out" = 1 ] || fail "hearth async printed: $(HEARTH_ENDPOINT="http://$addr" "$HEARTH" async)"
lambda delete-function --function-name cli-dest >/dev/null

# Event source mappings from a queue Hearth serves: create (202 Creating), get
# (Enabled), list, update (Disabling, then Disabled), delete (Deleting, then 404),
# and AWS's errors.
esm_arn=arn:aws:sqs:us-east-1:000000000000:cli-esm
"$AWS" sqs --endpoint-url "http://$addr" create-queue --queue-name cli-esm >/dev/null || fail "sqs create-queue cli-esm failed"
out=$(lambda create-event-source-mapping --function-name cli-fn --event-source-arn "$esm_arn" --batch-size 5 --query '[State,BatchSize,StateTransitionReason]' --output text)
[ "$out" = "Creating	5	USER_INITIATED" ] || fail "create-event-source-mapping printed: $out"
uuid=$(lambda list-event-source-mappings --function-name cli-fn --event-source-arn "$esm_arn" --query 'EventSourceMappings[0].UUID' --output text)
# (EventSourceMappingArn is newer than the CLI of Debian 12, which drops it.)
out=$(lambda get-event-source-mapping --uuid "$uuid" --query '[State,UUID,FunctionArn,EventSourceArn]' --output text)
[ "$out" = "Enabled	$uuid	arn:aws:lambda:us-east-1:000000000000:function:cli-fn	$esm_arn" ] ||
	fail "get-event-source-mapping printed: $out"
out=$(lambda update-event-source-mapping --uuid "$uuid" --no-enabled --batch-size 50 --maximum-batching-window-in-seconds 2 \
	--function-response-types ReportBatchItemFailures --query '[State,BatchSize,MaximumBatchingWindowInSeconds,FunctionResponseTypes[0]]' --output text)
[ "$out" = "Disabling	50	2	ReportBatchItemFailures" ] || fail "update-event-source-mapping printed: $out"
out=$(lambda get-event-source-mapping --uuid "$uuid" --query State --output text)
[ "$out" = Disabled ] || fail "a disabled mapping's state printed $out"
out=$(lambda list-event-source-mappings --event-source-arn "$esm_arn" --query 'length(EventSourceMappings)' --output text)
[ "$out" = 1 ] || fail "list-event-source-mappings printed $out"
if err=$(lambda create-event-source-mapping --function-name cli-fn --event-source-arn "$esm_arn" 2>&1); then fail "a second mapping of one queue and function created"; fi
echo "$err" | grep -q "ResourceConflictException.*already exists. Please update or delete the existing mapping with UUID $uuid" || fail "duplicate mapping printed: $err"
if err=$(lambda update-event-source-mapping --uuid "$uuid" --batch-size 20 --maximum-batching-window-in-seconds 0 2>&1); then fail "batch size 20 without a window accepted"; fi
echo "$err" | grep -q "InvalidParameterValueException.*Maximum batch window in seconds must be greater than 0" || fail "batch size 20 printed: $err"
if err=$(lambda create-event-source-mapping --function-name cli-fn --event-source-arn arn:aws:sqs:us-east-1:000000000000:cli-nope 2>&1); then fail "a mapping of a missing queue created"; fi
echo "$err" | grep -q "InvalidParameterValueException.*NonExistentQueue" || fail "missing queue printed: $err"
out=$(lambda delete-event-source-mapping --uuid "$uuid" --query State --output text)
[ "$out" = Deleting ] || fail "delete-event-source-mapping printed $out"
if err=$(lambda get-event-source-mapping --uuid "$uuid" 2>&1); then fail "a deleted mapping was found"; fi
echo "$err" | grep -q "ResourceNotFoundException.*The resource you requested does not exist." || fail "deleted mapping printed: $err"

# Code.Location downloads the zip with plain HTTP, as from S3.
url=$(lambda get-function --function-name cli-fn:1 --query Code.Location --output text)
python3 -c 'import sys,urllib.request;sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "$url" >"$work/dl.zip"
cmp -s "$work/dl.zip" "$work/fn.zip" || fail "Code.Location of version 1 did not return its zip"

# Errors: the CLI prints Lambda's error name and message.
if err=$(lambda get-function --function-name nope 2>&1); then fail "get-function of a missing function succeeded"; fi
echo "$err" | grep -q 'ResourceNotFoundException.*Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope' || fail "missing function printed: $err"
if err=$(lambda create-function --function-name cli-fn --runtime python3.12 --handler a.b --role arn:aws:iam::000000000000:role/hearth --zip-file "fileb://$work/fn.zip" 2>&1); then fail "duplicate create succeeded"; fi
echo "$err" | grep -q ResourceConflictException || fail "duplicate create printed: $err"
if err=$(lambda update-function-configuration --function-name cli-fn --memory-size 99999 2>&1); then fail "memory 99999 accepted"; fi
echo "$err" | grep -qE 'ValidationException|InvalidParameterValueException' || fail "memory 99999 printed: $err"
if err=$(lambda add-permission --function-name cli-fn --statement-id s --action lambda:InvokeFunction --principal s3.amazonaws.com 2>&1); then fail "add-permission succeeded"; fi
echo "$err" | grep -q 'NotImplementedException.*AddPermission' || fail "add-permission printed: $err"
if err=$(env -u AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_ACCESS_KEY_ID=AKIAWRONGWRONGWRONG1 AWS_SECRET_ACCESS_KEY=x "$AWS" lambda --endpoint-url "http://$addr" list-functions 2>&1); then fail "unknown key accepted"; fi
echo "$err" | grep -q UnrecognizedClientException || fail "unknown key printed: $err"
# STS's query protocol, as botocore speaks it: the account's key is the account's root.
out=$("$AWS" sts get-caller-identity --endpoint-url "http://$addr" --query '[Account,Arn]' --output text)
[ "$out" = "000000000000	arn:aws:iam::000000000000:root" ] || fail "sts get-caller-identity printed: $out"
if err=$(env -u AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_ACCESS_KEY_ID=ASIAWRONGWRONGWRONG AWS_SECRET_ACCESS_KEY=x AWS_SESSION_TOKEN=forged "$AWS" sts get-caller-identity --endpoint-url "http://$addr" 2>&1); then fail "forged session token accepted"; fi
echo "$err" | grep -q InvalidClientTokenId || fail "forged session token printed: $err"

lambda delete-alias --function-name cli-fn --name live
lambda delete-function --function-name cli-fn >/dev/null
out=$(lambda list-functions --query 'length(Functions)' --output text)
[ "$out" = 0 ] || fail "list-functions after delete printed $out"

echo "cli roundtrip: 1 passed, 0 failed"

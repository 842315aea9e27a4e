#!/usr/bin/env bash
# The AWS CLI's SQS commands against a real `hearth serve`: the CLI v2 of Debian
# speaks SQS's query protocol (forms and XML), which Hearth serves beside the JSON
# one. Run by `make cli`.
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

"$HEARTH" serve --listen 127.0.0.1:0 --data "$work/data" --sandbox none 2>"$log" &
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
sqs() { "$AWS" sqs --endpoint-url "http://$addr" "$@"; }

url=$(sqs create-queue --queue-name cli-q --attributes VisibilityTimeout=1 --query QueueUrl --output text)
[ "$url" = "http://$addr/000000000000/cli-q" ] || fail "create-queue printed $url"
out=$(sqs get-queue-url --queue-name cli-q --query QueueUrl --output text)
[ "$out" = "$url" ] || fail "get-queue-url printed $out"
out=$(sqs list-queues --queue-name-prefix cli- --query 'QueueUrls[0]' --output text)
[ "$out" = "$url" ] || fail "list-queues printed $out"

# The CLI checks MD5OfMessageBody and MD5OfMessageAttributes itself.
sqs send-message --queue-url "$url" --message-body 'hello from the CLI' \
	--message-attributes '{"k":{"DataType":"String","StringValue":"v"}}' >/dev/null || fail "send-message"
out=$(sqs receive-message --queue-url "$url" --wait-time-seconds 2 --attribute-names All --message-attribute-names All \
	--query 'Messages[0].[Body,Attributes.ApproximateReceiveCount,MessageAttributes.k.StringValue]' --output text)
[ "$out" = "hello from the CLI	1	v" ] || fail "receive-message printed $out"
# Not deleted: back after its 1 s visibility timeout, received twice.
out=$(sqs receive-message --queue-url "$url" --wait-time-seconds 10 --attribute-names ApproximateReceiveCount \
	--query 'Messages[0].[Attributes.ApproximateReceiveCount,ReceiptHandle]' --output text)
[ "$(cut -f1 <<<"$out")" = 2 ] || fail "second receive printed $out"
sqs delete-message --queue-url "$url" --receipt-handle "$(cut -f2 <<<"$out")" || fail "delete-message"

out=$(sqs get-queue-attributes --queue-url "$url" --attribute-names VisibilityTimeout ApproximateNumberOfMessages \
	--query '[Attributes.VisibilityTimeout,Attributes.ApproximateNumberOfMessages]' --output text)
[ "$out" = "1	0" ] || fail "get-queue-attributes printed $out"
sqs set-queue-attributes --queue-url "$url" --attributes DelaySeconds=5 || fail "set-queue-attributes"
sqs tag-queue --queue-url "$url" --tags team=hearth || fail "tag-queue"
out=$(sqs list-queue-tags --queue-url "$url" --query Tags.team --output text)
[ "$out" = hearth ] || fail "list-queue-tags printed $out"

out=$(sqs send-message-batch --queue-url "$url" --entries Id=a,MessageBody=one Id=b,MessageBody=two \
	--query 'length(Successful)' --output text)
[ "$out" = 2 ] || fail "send-message-batch printed $out"
sqs purge-queue --queue-url "$url" || fail "purge-queue"

# Errors, as the CLI reports them.
if err=$(sqs get-queue-url --queue-name no-such-queue 2>&1); then fail "get-queue-url of a missing queue succeeded"; fi
grep -q "AWS.SimpleQueueService.NonExistentQueue" <<<"$err" || fail "missing queue said: $err"
if err=$(sqs set-queue-attributes --queue-url "$url" --attributes VisibilityTimeout=99999 2>&1); then fail "a bad attribute was accepted"; fi
grep -q "InvalidAttributeValue" <<<"$err" || fail "bad attribute said: $err"
head -c 1048577 /dev/zero | tr '\0' x >"$work/big.txt"
if err=$(sqs send-message --queue-url "$url" --message-body "file://$work/big.txt" 2>&1); then fail "an oversized message was accepted"; fi
grep -q "Message must be shorter than 1048576 bytes" <<<"$err" || fail "oversized message said: $err"

# Hearth's own CLI, through aws-sdk-go-v2's SQS client.
hq() { "$HEARTH" queue "$@" --endpoint "http://$addr" --data "$work/data"; }
out=$(hq create cli-own)
[ "$out" = "http://$addr/000000000000/cli-own" ] || fail "hearth queue create printed $out"
hq send cli-own --body 'from hearth queue' >/dev/null || fail "hearth queue send"
out=$(hq receive cli-own --wait 2)
grep -q '"Body": "from hearth queue"' <<<"$out" || fail "hearth queue receive printed $out"
hq list | grep -q "/cli-own$" || fail "hearth queue list"
hq attributes cli-own | grep -q '"ApproximateNumberOfMessages": "0"' || fail "hearth queue attributes"
hq purge cli-own >/dev/null || fail "hearth queue purge"
hq delete cli-own >/dev/null || fail "hearth queue delete"

sqs delete-queue --queue-url "$url" || fail "delete-queue"
if sqs get-queue-url --queue-name cli-q >/dev/null 2>&1; then fail "the deleted queue still has a URL"; fi
echo "PASS: AWS CLI SQS round trip"

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// hearth queue …: Hearth's SQS queues, through aws-sdk-go-v2's SQS client against
// the same endpoint as the Lambda API.

func queueCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: hearth queue create|list|send|receive|purge|delete|attributes ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch args[0] {
	case "create":
		return queueCreate(ctx, args[1:])
	case "list", "ls":
		return queueList(ctx, args[1:])
	case "send":
		return queueSend(ctx, args[1:])
	case "receive":
		return queueReceive(ctx, args[1:])
	case "purge":
		return queueSimple(ctx, "purge", args[1:], func(c *sqs.Client, url string) error {
			_, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
			return err
		})
	case "delete", "rm":
		return queueSimple(ctx, "delete", args[1:], func(c *sqs.Client, url string) error {
			_, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url})
			return err
		})
	case "attributes", "attrs":
		return queueSimple(ctx, "attributes", args[1:], func(c *sqs.Client, url string) error {
			out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
			if err != nil {
				return err
			}
			return printJSON(out)
		})
	}
	return fmt.Errorf("unknown queue command %q (want create, list, send, receive, purge, delete or attributes)", args[0])
}

func (f clientFlags) sqsClient(ctx context.Context) (*sqs.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, f.configOptions()...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(*f.endpoint) }), nil
}

// queueURL looks a queue's URL up by name.
func queueURL(ctx context.Context, c *sqs.Client, name string) (string, error) {
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if err != nil {
		return "", apiError(err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func queueSimple(ctx context.Context, verb string, args []string, do func(c *sqs.Client, url string) error) error {
	fs := flag.NewFlagSet(verb, flag.ExitOnError)
	cf := addClientFlags(fs)
	name, err := parseQueueName(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.sqsClient(ctx)
	if err != nil {
		return err
	}
	url, err := queueURL(ctx, c, name)
	if err != nil {
		return err
	}
	if err := do(c, url); err != nil {
		return apiError(err)
	}
	if verb != "attributes" {
		fmt.Printf("%s: %s\n", verb, name)
	}
	return nil
}

func parseQueueName(fs *flag.FlagSet, args []string) (string, error) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return "", fmt.Errorf("usage: hearth queue %s NAME [flags]", fs.Name())
	}
	return name, nil
}

func queueCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	cf := addClientFlags(fs)
	attrs := envFlag{}
	fs.Var(attrs, "attribute", "queue attribute NAME=VALUE (repeatable), e.g. VisibilityTimeout=60")
	name, err := parseQueueName(fs, args)
	if err != nil {
		return err
	}
	if strings.HasSuffix(name, ".fifo") {
		if _, ok := attrs["FifoQueue"]; !ok {
			attrs["FifoQueue"] = "true"
		}
	}
	c, err := cf.sqsClient(ctx)
	if err != nil {
		return err
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	if err != nil {
		return apiError(err)
	}
	fmt.Println(aws.ToString(out.QueueUrl))
	return nil
}

func queueList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	cf := addClientFlags(fs)
	prefix := fs.String("prefix", "", "only queues whose name starts with this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := cf.sqsClient(ctx)
	if err != nil {
		return err
	}
	p := sqs.NewListQueuesPaginator(c, &sqs.ListQueuesInput{QueueNamePrefix: prefix, MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return apiError(err)
		}
		for _, u := range out.QueueUrls {
			fmt.Println(u)
		}
	}
	return nil
}

func queueSend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	cf := addClientFlags(fs)
	body := fs.String("body", "", "message body (default: standard input)")
	delay := fs.Int("delay", 0, "DelaySeconds")
	group := fs.String("group", "", "MessageGroupId (FIFO queues)")
	dedup := fs.String("dedup", "", "MessageDeduplicationId (FIFO queues)")
	name, err := parseQueueName(fs, args)
	if err != nil {
		return err
	}
	if *body == "" {
		b, err := readAllStdin()
		if err != nil {
			return err
		}
		*body = b
	}
	c, err := cf.sqsClient(ctx)
	if err != nil {
		return err
	}
	url, err := queueURL(ctx, c, name)
	if err != nil {
		return err
	}
	in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: body, DelaySeconds: int32(*delay)}
	if *group != "" {
		in.MessageGroupId = group
	}
	if *dedup != "" {
		in.MessageDeduplicationId = dedup
	}
	out, err := c.SendMessage(ctx, in)
	if err != nil {
		return apiError(err)
	}
	return printJSON(out)
}

func readAllStdin() (string, error) {
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := os.Stdin.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
		if sb.Len() > 4<<20 {
			return "", errors.New("standard input is larger than 4 MB")
		}
	}
	return sb.String(), nil
}

func queueReceive(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("receive", flag.ExitOnError)
	cf := addClientFlags(fs)
	max := fs.Int("max", 1, "MaxNumberOfMessages (1–10)")
	wait := fs.Int("wait", 0, "WaitTimeSeconds (0–20)")
	keep := fs.Bool("keep", false, "do not delete the messages received")
	name, err := parseQueueName(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.sqsClient(ctx)
	if err != nil {
		return err
	}
	url, err := queueURL(ctx, c, name)
	if err != nil {
		return err
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: int32(*max), WaitTimeSeconds: int32(*wait),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}, MessageAttributeNames: []string{"All"}})
	if err != nil {
		return apiError(err)
	}
	for _, m := range out.Messages {
		if err := printJSON(m); err != nil {
			return err
		}
		if !*keep {
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				return apiError(err)
			}
		}
	}
	return nil
}

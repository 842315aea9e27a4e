package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// hearth invoke NAME [--payload JSON] [--qualifier Q] [--event] [--tail]
func invokeCmd(args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ExitOnError)
	cf := addClientFlags(fs)
	payload := fs.String("payload", "{}", "the event, as JSON")
	qualifier := fs.String("qualifier", "", "version or alias")
	event := fs.Bool("event", false, "invoke asynchronously (InvocationType Event)")
	tail := fs.Bool("tail", true, "print the invocation's log (LogType Tail)")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 16*time.Minute)
	defer cancel()
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(*payload)}
	if *qualifier != "" {
		in.Qualifier = qualifier
	}
	if *event {
		in.InvocationType = types.InvocationTypeEvent
	} else if *tail {
		in.LogType = types.LogTypeTail
	}
	out, err := c.Invoke(ctx, in)
	if err != nil {
		return apiError(err)
	}
	if out.LogResult != nil {
		if b, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil {
			fmt.Fprint(os.Stderr, string(b))
		}
	}
	if *event {
		fmt.Fprintf(os.Stderr, "accepted (status %d)\n", out.StatusCode)
		return nil
	}
	fmt.Println(string(out.Payload))
	if out.FunctionError != nil {
		return fmt.Errorf("function error (%s), executed version %s", *out.FunctionError, aws.ToString(out.ExecutedVersion))
	}
	return nil
}

// hearth logs NAME [--follow] [--since DURATION]
func logsCmd(args []string) error {
	fs := flag.NewFlagSet("logs", flag.ExitOnError)
	cf := addClientFlags(fs)
	follow := fs.Bool("follow", false, "keep printing new log records")
	since := fs.Duration("since", 0, "only records newer than this (e.g. 10m); 0 = all kept")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	u, err := url.Parse(strings.TrimRight(*cf.endpoint, "/") + "/_hearth/logs/" + url.PathEscape(name))
	if err != nil {
		return err
	}
	q := u.Query()
	if *follow {
		q.Set("follow", "true")
	}
	if *since > 0 {
		q.Set("since", time.Now().Add(-*since).UTC().Format(time.RFC3339))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if err := cf.sign(ctx, req); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Header.Get("x-amzn-ErrorType"), strings.TrimSpace(string(b)))
	}
	_, err = io.Copy(os.Stdout, resp.Body)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

// sign signs a plain HTTP request the way the SDK signs Lambda calls.
func (f clientFlags) sign(ctx context.Context, req *http.Request) error {
	cfg, err := config.LoadDefaultConfig(ctx, f.configOptions()...)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(nil)
	return v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", cfg.Region, time.Now())
}

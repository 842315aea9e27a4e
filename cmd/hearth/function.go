package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/hearthfn/hearth/internal/daemon"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	endpoint *string
	data     *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	ep := os.Getenv("HEARTH_ENDPOINT")
	if ep == "" {
		ep = "http://127.0.0.1:9060"
	}
	return clientFlags{
		endpoint: fs.String("endpoint", ep, "Hearth's Lambda API (env HEARTH_ENDPOINT)"),
		data:     fs.String("data", "./.hearth", "data directory of a local hearth serve, for its credentials"),
	}
}

// client builds a Lambda client through the standard AWS chain: the AWS_*
// environment first, then the "hearth" profile that serve wrote.
func (f clientFlags) client(ctx context.Context) (*lambda.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, f.configOptions()...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(*f.endpoint) }), nil
}

// configOptions loads the AWS_* environment first, then serve's "hearth" profile.
func (f clientFlags) configOptions() []func(*config.LoadOptions) error {
	opts := []func(*config.LoadOptions) error{}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		files := []string{daemon.CredentialsFile(*f.data)}
		if home, err := os.UserHomeDir(); err == nil {
			files = append(files, filepath.Join(home, ".aws", "credentials"))
		}
		opts = append(opts, config.WithSharedCredentialsFiles(files), config.WithSharedConfigProfile(daemon.CredentialsProfile))
	}
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	return opts
}

func function(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: hearth function create|list|get|delete ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch args[0] {
	case "create":
		return functionCreate(ctx, args[1:])
	case "list", "ls":
		return functionList(ctx, args[1:])
	case "get":
		return functionGet(ctx, args[1:])
	case "delete", "rm":
		return functionDelete(ctx, args[1:])
	}
	return fmt.Errorf("unknown function command %q (want create, list, get or delete)", args[0])
}

// parseNamed parses flags that may come before or after the one positional NAME.
func parseNamed(fs *flag.FlagSet, args []string) (string, error) {
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
		return "", fmt.Errorf("usage: hearth function %s NAME [flags]", fs.Name())
	}
	return name, nil
}

type envFlag map[string]string

func (e envFlag) String() string { return fmt.Sprint(map[string]string(e)) }
func (e envFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	e[k] = val
	return nil
}

func functionCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	cf := addClientFlags(fs)
	runtime := fs.String("runtime", "provided.al2023", "runtime")
	handler := fs.String("handler", "", "handler (default: bootstrap, or index.handler / lambda_function.lambda_handler by runtime)")
	zipPath := fs.String("zip", "", "the deployment package (a .zip)")
	role := fs.String("role", "arn:aws:iam::000000000000:role/hearth", "execution role ARN (stored)")
	memory := fs.Int("memory", 128, "memory in MB")
	timeout := fs.Int("timeout", 3, "timeout in seconds")
	desc := fs.String("description", "", "description")
	publish := fs.Bool("publish", false, "publish version 1")
	env := envFlag{}
	fs.Var(env, "env", "environment variable KEY=VALUE (repeatable)")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	if *zipPath == "" {
		return errors.New("--zip is required")
	}
	zip, err := os.ReadFile(*zipPath)
	if err != nil {
		return err
	}
	if *handler == "" {
		switch {
		case strings.HasPrefix(*runtime, "python"):
			*handler = "lambda_function.lambda_handler"
		case strings.HasPrefix(*runtime, "nodejs"):
			*handler = "index.handler"
		default:
			*handler = "bootstrap"
		}
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.Runtime(*runtime),
		Handler:      handler,
		Role:         role,
		Code:         &types.FunctionCode{ZipFile: zip},
		MemorySize:   aws.Int32(int32(*memory)),
		Timeout:      aws.Int32(int32(*timeout)),
		Description:  desc,
		Publish:      *publish,
	}
	if len(env) > 0 {
		in.Environment = &types.Environment{Variables: env}
	}
	out, err := c.CreateFunction(ctx, in)
	if err != nil {
		return apiError(err)
	}
	return printJSON(out)
}

func functionList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	cf := addClientFlags(fs)
	_ = fs.Parse(args)
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tRUNTIME\tMEMORY\tCODE SIZE\tLAST MODIFIED")
	p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return apiError(err)
		}
		for _, f := range page.Functions {
			fmt.Fprintf(w, "%s\t%s\t%d MB\t%d\t%s\n", aws.ToString(f.FunctionName), f.Runtime, aws.ToInt32(f.MemorySize), f.CodeSize, aws.ToString(f.LastModified))
		}
	}
	return w.Flush()
}

func functionGet(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	cf := addClientFlags(fs)
	qualifier := fs.String("qualifier", "", "version or alias")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	in := &lambda.GetFunctionInput{FunctionName: aws.String(name)}
	if *qualifier != "" {
		in.Qualifier = qualifier
	}
	out, err := c.GetFunction(ctx, in)
	if err != nil {
		return apiError(err)
	}
	// Hearth's counters beside Lambda's answer: reservation, provisioned envs,
	// executions in flight and throttles since the node started (what CloudWatch's
	// metrics would say on AWS).
	extra := map[string]any{}
	if _, v, err := fetchConcurrency(ctx, cf); err == nil {
		for _, f := range v.Functions {
			if f.FunctionName == aws.ToString(out.Configuration.FunctionName) {
				hc := map[string]any{"InFlight": f.InFlight, "ProvisionedInFlight": f.ProvisionedInFlight, "Throttles": f.Throttles}
				if f.ReservedConcurrentExecutions != nil {
					hc["Reserved"] = *f.ReservedConcurrentExecutions
				}
				if f.Provisioned != nil {
					hc["Provisioned"] = f.Provisioned
				}
				extra["HearthConcurrency"] = hc
			}
		}
	}
	return printJSON(out, extra)
}

func functionDelete(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ExitOnError)
	cf := addClientFlags(fs)
	qualifier := fs.String("qualifier", "", "delete only this version")
	name, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	in := &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}
	if *qualifier != "" {
		in.Qualifier = qualifier
	}
	if _, err := c.DeleteFunction(ctx, in); err != nil {
		return apiError(err)
	}
	fmt.Printf("deleted %s\n", name)
	return nil
}

// apiError shows an API error as the AWS CLI does: type, then message.
func apiError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}

// printJSON prints an SDK output without its middleware metadata.
// extra keys are added to the object printed.
func printJSON(v any, extra ...map[string]any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	delete(m, "ResultMetadata")
	for _, e := range extra {
		for k, v := range e {
			m[k] = v
		}
	}
	out, _ := json.MarshalIndent(m, "", "  ")
	fmt.Println(string(out))
	return nil
}

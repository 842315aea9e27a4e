// Command hearth runs and drives a Hearth node: `hearth serve` is a whole
// Lambda-compatible platform; the other commands talk to one through aws-sdk-go-v2,
// exactly as any AWS client would.
package main

import (
	"fmt"
	"os"

	"github.com/hearthfn/hearth/internal/sandbox/namespace"
)

const usage = `hearth — run unmodified AWS Lambda functions on your own machines

Usage:
  hearth serve [flags]                 run a Hearth node (Lambda API on --listen)
  hearth function create NAME [flags]  deploy a zip
  hearth function list                 list functions
  hearth function get NAME             show a function
  hearth function delete NAME          delete a function
  hearth invoke NAME [--payload JSON]  invoke a function, print its answer and log tail
  hearth logs NAME [--follow]          print a function's logs
  hearth concurrency                   reserved concurrency, executions in flight and throttles
  hearth async                         asynchronous events stored, run, failed, retried
  hearth queue create|list|send|receive|purge|delete|attributes [NAME]
                                       SQS queues (the same endpoint speaks SQS)

Run 'hearth COMMAND -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	// The namespace driver re-executes this binary to set up a sandbox from inside
	// its new namespaces before it becomes hearth-init.
	if os.Args[1] == namespace.SetupArg {
		namespace.SetupMain()
		return
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "invoke":
		err = invokeCmd(os.Args[2:])
	case "logs":
		err = logsCmd(os.Args[2:])
	case "function", "functions", "fn":
		err = function(os.Args[2:])
	case "concurrency":
		err = concurrencyCmd(os.Args[2:])
	case "async":
		err = asyncCmd(os.Args[2:])
	case "queue", "queues":
		err = queueCmd(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "hearth: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hearth:", err)
		os.Exit(1)
	}
}

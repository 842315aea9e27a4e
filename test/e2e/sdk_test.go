package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// The bundled AWS SDKs (README, "The bundled AWS SDKs"): boto3 in the python
// runtimes, the SDK for JavaScript v3 in the nodejs ones, each honouring the
// service-specific endpoint variables, and each losing to a copy the function ships.
// No test here sends a request: the endpoint a client would use is read from the
// client, and the nodejs client is stopped before it sends.

// linkBundledSDK makes the SDKs that `make sdk` put in the repository's bin/sdk
// visible next to a hearth-init TestMain built in dir, which is where hearth serve
// looks for them. Without bin/sdk it does nothing (the tests that need it say so).
func linkBundledSDK(dir string) {
	root, err := moduleRoot()
	if err != nil {
		return
	}
	src := filepath.Join(root, "bin", "sdk")
	if _, err := os.Stat(src); err != nil {
		return
	}
	_ = os.Symlink(src, filepath.Join(dir, "sdk"))
}

// requireBundledSDK fails unless the SDKs are next to the hearth-init servers run.
func requireBundledSDK(t *testing.T) {
	t.Helper()
	dir := filepath.Join(filepath.Dir(hearthInit), "sdk")
	for _, probe := range []string{"python/boto3/__init__.py", "node/node_modules/@aws-sdk/client-lambda/package.json"} {
		if _, err := os.Stat(filepath.Join(dir, probe)); err != nil {
			t.Fatalf("the bundled AWS SDK is not installed next to %s (run make sdk): %v", hearthInit, err)
		}
	}
}

// pinnedPython returns the upstream versions sdk/python/packages pins, by Debian
// package name: python3-botocore=1.37.9+repack-1 is botocore 1.37.9.
func pinnedPython(t *testing.T) map[string]string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "sdk", "python", "packages"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pins := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, version, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(version, '-'); i > 0 {
			version = version[:i] // the Debian revision
		}
		version, _, _ = strings.Cut(version, "+") // +repack, +dfsg
		pins[name] = version
	}
	return pins
}

// pinnedNode returns the version sdk/node/package.json pins for client-lambda.
func pinnedNode(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "sdk", "node", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	v := pkg.Dependencies["@aws-sdk/client-lambda"]
	if v == "" {
		t.Fatal("sdk/node/package.json pins no @aws-sdk/client-lambda")
	}
	return v
}

const sdkEndpoint = "http://127.0.0.1:1" // nothing listens there, and nothing is sent

func withSDKEndpoint(in *lambda.CreateFunctionInput) {
	in.Environment = &types.Environment{Variables: map[string]string{
		"AWS_ENDPOINT_URL_LAMBDA": sdkEndpoint,
		// The SDK's own notice that later versions need Node.js 22 (the host's is 20).
		"AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
	}}
	// Importing an SDK is work: room for it under gVisor on a busy host.
	in.MemorySize = aws.Int32(512)
	in.Timeout = aws.Int32(30)
}

func sdkKind(short string, runtime types.Runtime, handler string, files map[string]string) fnKind {
	return fnKind{short: short, runtime: runtime, handler: handler, zip: func(t testing.TB) []byte {
		var zf []zipFile
		for name, body := range files {
			zf = append(zf, zipFile{Name: name, Body: body})
		}
		return makeZip(t, zf...)
	}}
}

// The nodejs functions stop their client in the build step, after it resolved its
// endpoint and before it signs or sends anything, and answer where it would have gone.
const nodeStopBeforeSend = `
async function wouldSendTo(client, command) {
  client.middlewareStack.add(
    () => async (args) => {
      const r = args.request;
      const stop = new Error('stopped before sending');
      stop.target = r.protocol + '//' + r.hostname + (r.port ? ':' + r.port : '') + r.path;
      throw stop;
    },
    { step: 'build', name: 'hearthTestStop' },
  );
  try {
    await client.send(command);
  } catch (e) {
    if (e.target) return e.target;
    throw e;
  }
  throw new Error('the request was sent');
}
`

var (
	sdkPython = sdkKind("sdkpy", types.RuntimePython312, "lambda_function.lambda_handler", map[string]string{
		"lambda_function.py": `import sys
import boto3, botocore, urllib3

client = boto3.client("lambda")


def lambda_handler(event, context):
    return {
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "urllib3": urllib3.__version__,
        "boto3_file": boto3.__file__,
        "endpoint": client.meta.endpoint_url,
        "sts_endpoint": boto3.client("sts").meta.endpoint_url,
        "path": sys.path,
    }
`,
	})
	sdkPythonOwn = sdkKind("sdkpyown", types.RuntimePython312, "lambda_function.lambda_handler", map[string]string{
		"lambda_function.py": `import boto3


def lambda_handler(event, context):
    return {"boto3": boto3.__version__, "boto3_file": boto3.__file__}
`,
		"boto3/__init__.py": "__version__ = '0.0.0-zip'\n",
	})
	sdkNodeCJS = sdkKind("sdkcjs", types.RuntimeNodejs20x, "app.handler", map[string]string{
		"app.js": `'use strict';
const { LambdaClient, GetAccountSettingsCommand } = require('@aws-sdk/client-lambda');
` + nodeStopBeforeSend + `
exports.handler = async () => {
  const others = {};
  for (const m of ['@aws-sdk/client-sqs', '@aws-sdk/client-sts', '@aws-sdk/client-s3', '@aws-sdk/client-dynamodb',
    '@aws-sdk/lib-dynamodb', '@aws-sdk/credential-providers']) {
    others[m] = Object.keys(require(m)).length > 0;
  }
  const client = new LambdaClient({ credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
  return {
    version: require('@aws-sdk/client-lambda/package.json').version,
    file: require.resolve('@aws-sdk/client-lambda'),
    target: await wouldSendTo(client, new GetAccountSettingsCommand({})),
    others,
  };
};
`,
	})
	sdkNodeESM = sdkKind("sdkmjs", types.RuntimeNodejs20x, "index.handler", map[string]string{
		"index.mjs": `import { LambdaClient, GetAccountSettingsCommand } from '@aws-sdk/client-lambda';
import { fromEnv } from '@aws-sdk/credential-providers';
import pkg from '@aws-sdk/client-lambda/package.json' with { type: 'json' };
` + nodeStopBeforeSend + `
export const handler = async () => {
  const client = new LambdaClient({ credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
  return {
    version: pkg.version,
    file: import.meta.resolve('@aws-sdk/client-lambda'),
    target: await wouldSendTo(client, new GetAccountSettingsCommand({})),
    others: { '@aws-sdk/credential-providers': typeof fromEnv === 'function' },
  };
};
`,
	})
	// Its own @aws-sdk/client-lambda, found by import and by require alike.
	sdkNodeOwn = sdkKind("sdknodeown", types.RuntimeNodejs20x, "index.handler", map[string]string{
		"index.mjs": `import { createRequire } from 'node:module';
import { own } from '@aws-sdk/client-lambda';
import pkg from '@aws-sdk/client-lambda/package.json' with { type: 'json' };
const require = createRequire(import.meta.url);
export const handler = async () => ({ esm: pkg.version, esmOwn: own, cjs: require('@aws-sdk/client-lambda').own });
`,
		"node_modules/@aws-sdk/client-lambda/package.json": `{"name": "@aws-sdk/client-lambda", "version": "0.0.0-zip", "main": "index.js"}`,
		"node_modules/@aws-sdk/client-lambda/index.js":     "exports.own = true;\n",
	})
)

func TestSDKBundled(t *testing.T) {
	requireBundledSDK(t)
	pins := pinnedPython(t)
	nodeVersion := pinnedNode(t)
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)

		t.Run("python", func(t *testing.T) {
			t.Parallel()
			name := deploy(t, s, sdkPython, withSDKEndpoint)
			var got struct {
				Boto3, Botocore, Urllib3 string
				Boto3File                string `json:"boto3_file"`
				Endpoint                 string
				STSEndpoint              string `json:"sts_endpoint"`
				Path                     []string
			}
			s.invokeOK(t, name, map[string]any{}, invokeOpts{}).decode(t, &got)
			if got.Boto3 != pins["python3-boto3"] || got.Botocore != pins["python3-botocore"] || got.Urllib3 != pins["python3-urllib3"] {
				t.Errorf("boto3 %s, botocore %s, urllib3 %s; want the pinned %s, %s, %s",
					got.Boto3, got.Botocore, got.Urllib3, pins["python3-boto3"], pins["python3-botocore"], pins["python3-urllib3"])
			}
			if !strings.HasPrefix(got.Boto3File, "/var/sdk/python/") {
				t.Errorf("boto3 came from %s, want the bundled /var/sdk/python", got.Boto3File)
			}
			if got.Endpoint != sdkEndpoint {
				t.Errorf("boto3.client('lambda') endpoint = %q, want AWS_ENDPOINT_URL_LAMBDA's %q", got.Endpoint, sdkEndpoint)
			}
			if got.STSEndpoint == sdkEndpoint {
				t.Errorf("boto3.client('sts') took the Lambda endpoint %q", got.STSEndpoint)
			}
			if len(got.Path) < 2 || got.Path[0] != "/var/task" || got.Path[1] != "/var/sdk/python" {
				t.Errorf("sys.path = %q, want /var/task then /var/sdk/python first", got.Path)
			}
		})

		t.Run("python own boto3", func(t *testing.T) {
			t.Parallel()
			name := deploy(t, s, sdkPythonOwn)
			var got struct {
				Boto3     string
				Boto3File string `json:"boto3_file"`
			}
			s.invokeOK(t, name, map[string]any{}, invokeOpts{}).decode(t, &got)
			if got.Boto3 != "0.0.0-zip" || got.Boto3File != "/var/task/boto3/__init__.py" {
				t.Errorf("boto3 %s from %s, want the function's own 0.0.0-zip from /var/task", got.Boto3, got.Boto3File)
			}
		})

		for _, k := range []fnKind{sdkNodeCJS, sdkNodeESM} {
			t.Run("node "+k.short, func(t *testing.T) {
				t.Parallel()
				name := deploy(t, s, k, withSDKEndpoint)
				var got struct {
					Version, File, Target string
					Others                map[string]bool
				}
				s.invokeOK(t, name, map[string]any{}, invokeOpts{}).decode(t, &got)
				if got.Version != nodeVersion {
					t.Errorf("@aws-sdk/client-lambda %s, want the pinned %s", got.Version, nodeVersion)
				}
				if !strings.Contains(got.File, "/var/node_modules/@aws-sdk/client-lambda/") {
					t.Errorf("@aws-sdk/client-lambda came from %s, want the bundled /var/node_modules", got.File)
				}
				if want := sdkEndpoint + "/2016-08-19/account-settings"; got.Target != want {
					t.Errorf("GetAccountSettings would go to %q, want %q (AWS_ENDPOINT_URL_LAMBDA)", got.Target, want)
				}
				for m, ok := range got.Others {
					if !ok {
						t.Errorf("%s is not usable", m)
					}
				}
			})
		}

		t.Run("node own sdk", func(t *testing.T) {
			t.Parallel()
			name := deploy(t, s, sdkNodeOwn)
			var got struct {
				ESM    string
				ESMOwn bool `json:"esmOwn"`
				CJS    bool
			}
			s.invokeOK(t, name, map[string]any{}, invokeOpts{}).decode(t, &got)
			if got.ESM != "0.0.0-zip" || !got.ESMOwn || !got.CJS {
				t.Errorf("got %+v, want the function's own @aws-sdk/client-lambda by import and by require", got)
			}
		})
	})
}

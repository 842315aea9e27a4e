package e2e

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestInvokeCodeHygiene: unpacked code is root's alone, and code that no function
// or version uses any more is removed from the worker's disk.
func TestInvokeCodeHygiene(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		workerDir := filepath.Join(s.dataDir, "worker")
		name := deploy(t, s, kindPython)
		s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
		codeDir := filepath.Join(workerDir, "code", codeHex(pythonFnZip(t)))
		if _, err := os.Stat(codeDir); err != nil {
			t.Fatalf("the invoked code is not unpacked at %s: %v", codeDir, err)
		}
		fi, err := os.Stat(workerDir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: other host users can reach the code", workerDir, fi.Mode().Perm())
		}

		// A second function with its own code, deleted: its code goes; the first
		// function's stays.
		otherZip := testdataZip(t, "python", map[string]string{"extra.txt": uniqueName("unique-code")})
		other := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = otherZip })
		s.invokeOK(t, other, map[string]any{"action": "echo"}, invokeOpts{})
		otherDir := filepath.Join(workerDir, "code", codeHex(otherZip))
		if _, err := os.Stat(otherDir); err != nil {
			t.Fatalf("the second function's code is not unpacked at %s: %v", otherDir, err)
		}
		if _, err := s.client().DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(other)}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := os.Stat(otherDir); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the deleted function's unpacked code is still at %s after 60 s", otherDir)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if _, err := os.Stat(codeDir); err != nil {
			t.Errorf("the live function's code went too: %v", err)
		}
		s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
	})
}

// TestInvokeShellReopensStdio: a runtime that reopens its stdout and stderr by path
// (`echo … >/dev/stderr`, through /proc/self/fd) can, though hearth-init, which made
// the pipes, is another user.
func TestInvokeShellReopensStdio(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		fh := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
		fh.SetMode(0o755)
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("#!/bin/sh\necho reopened-stderr >/dev/stderr\necho reopened-stdout >/dev/stdout\nexit 3\n"))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		name := deploy(t, s, kindGo, func(in *lambda.CreateFunctionInput) {
			in.Code.ZipFile = buf.Bytes()
			in.Runtime = types.RuntimeProvidedal2023
		})
		r := s.invoke(t, name, map[string]any{}, invokeOpts{tail: true})
		for _, want := range []string{"reopened-stderr", "reopened-stdout", "Runtime exited with error: exit status 3"} {
			if !strings.Contains(r.Log, want) {
				t.Errorf("the init's log lacks %q:\n%s", want, r.Log)
			}
		}
		if strings.Contains(r.Log, "Permission denied") {
			t.Errorf("the runtime could not reopen its own stdio:\n%s", r.Log)
		}
	})
}

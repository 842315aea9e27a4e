package agent

import (
	"strings"
	"syscall"
	"testing"
)

func TestStateTransitions(t *testing.T) {
	allowed := map[State][]State{
		StateStarted:      {StateReady, StateInitError, StateShuttingDown, StateExited},
		StateReady:        {StateReady, StateRunning, StateShuttingDown, StateExited},
		StateRunning:      {StateRunning, StateResponseSent, StateShuttingDown, StateExited},
		StateResponseSent: {StateReady, StateRunning, StateShuttingDown, StateExited},
		StateInitError:    {StateShuttingDown, StateExited},
		StateShuttingDown: {StateExited},
		StateExited:       nil,
	}
	for from := State(0); from < numStates; from++ {
		for to := State(0); to < numStates; to++ {
			want := false
			for _, s := range allowed[from] {
				want = want || s == to
			}
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s → %s: %v, want %v", from, to, got, want)
			}
		}
		if strings.HasPrefix(from.String(), "State(") {
			t.Errorf("state %d has no name", from)
		}
	}
	if numStates.CanTransition(StateReady) || StateReady.CanTransition(numStates) {
		t.Error("out-of-range states must not transition")
	}
}

func TestExitReason(t *testing.T) {
	for _, tc := range []struct {
		ws   syscall.WaitStatus
		want string
	}{
		{0 << 8, "Runtime exited without providing a reason"},
		{2 << 8, "Runtime exited with error: exit status 2"},
		{syscall.WaitStatus(syscall.SIGKILL), "Runtime exited with error: signal: killed"},
		{syscall.WaitStatus(syscall.SIGSEGV) | 0x80, "Runtime exited with error: signal: segmentation fault (core dumped)"},
	} {
		if got := exitReason(tc.ws); got != tc.want {
			t.Errorf("%#x: %q, want %q", uint32(tc.ws), got, tc.want)
		}
	}
	if signalName(syscall.SIGKILL) != "SIGKILL" || signalName(syscall.Signal(40)) != "SIG40" {
		t.Error("signalName")
	}
}

func TestNormalizeErrorDoc(t *testing.T) {
	for _, tc := range []struct {
		body, header, doc, docType, docMessage string
	}{
		{`{"errorMessage":"m","errorType":"T","stackTrace":[]}`, "H", `{"errorMessage":"m","errorType":"T","stackTrace":[]}`, "T", "m"},
		{`"just a string"`, "", `"just a string"`, "", ""},
		{"not json", "H", `{"errorMessage":"not json","errorType":"H"}`, "H", "not json"},
		{"", "", `{"errorMessage":"","errorType":"Unhandled"}`, "Unhandled", ""},
	} {
		doc, docType, msg := normalizeErrorDoc([]byte(tc.body), tc.header)
		if string(doc) != tc.doc || docType != tc.docType || msg != tc.docMessage {
			t.Errorf("%q %q: %s %q %q", tc.body, tc.header, doc, docType, msg)
		}
	}
}

func TestWithEnv(t *testing.T) {
	env := []string{"A=1", "AWS_LAMBDA_RUNTIME_API_X=no"}
	got := withEnv(env, "AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
	if len(got) != 3 || got[2] != "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001" || len(env) != 2 {
		t.Fatalf("%v", got)
	}
	set := []string{"AWS_LAMBDA_RUNTIME_API=10.0.0.1:1"}
	if got := withEnv(set, "AWS_LAMBDA_RUNTIME_API", "x"); len(got) != 1 || got[0] != set[0] {
		t.Fatalf("%v", got)
	}
}

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// functionState is everything the API shows about one function, rendered for
// comparison. Code.Location is left out (its expiry differs per call); the bytes it
// serves are kept instead.
type functionState struct {
	Function    string
	Code        []byte
	Versions    string
	ByVersion   map[string]string
	VersionCode map[string][]byte
	Aliases     string
	Tags        string
	Concurrency string
}

func captureFunction(t testing.TB, c *lambda.Client, name string) functionState {
	t.Helper()
	got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	_, code := download(t, deref(got.Code.Location))
	loc := got.Code.Location
	got.Code.Location = nil
	st := functionState{Function: jsonOf(t, got), Code: code, ByVersion: map[string]string{}, VersionCode: map[string][]byte{}}
	got.Code.Location = loc
	versions := listVersions(t, c, name)
	st.Versions = jsonOf(t, versions)
	for _, v := range versions {
		q := deref(v.Version)
		cfg := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String(q)})
		st.ByVersion[q] = jsonOf(t, configOf(t, cfg))
		if q != "$LATEST" {
			vf := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String(q)})
			_, st.VersionCode[q] = download(t, deref(vf.Code.Location))
		}
	}
	st.Aliases = jsonOf(t, listAliases(t, c, name, ""))
	st.Tags = jsonOf(t, call(t, c.ListTags, &lambda.ListTagsInput{Resource: aws.String(functionArn(name))}).Tags)
	st.Concurrency = jsonOf(t, call(t, c.GetFunctionConcurrency, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)}).ReservedConcurrentExecutions)
	return st
}

func listAllFunctions(t testing.TB, c *lambda.Client, version types.FunctionVersion) []types.FunctionConfiguration {
	t.Helper()
	var all []types.FunctionConfiguration
	p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{FunctionVersion: version})
	for p.HasMorePages() {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("ListFunctions: %v", err)
		}
		all = append(all, page.Functions...)
	}
	return all
}

func compareStates(t testing.TB, name string, before, after functionState) {
	t.Helper()
	if before.Function != after.Function {
		t.Errorf("%s: GetFunction differs after the restart:\nbefore %s\nafter  %s", name, before.Function, after.Function)
	}
	if string(before.Code) != string(after.Code) {
		t.Errorf("%s: Code.Location serves %d bytes after the restart, %d before", name, len(after.Code), len(before.Code))
	}
	if before.Versions != after.Versions {
		t.Errorf("%s: ListVersionsByFunction differs:\nbefore %s\nafter  %s", name, before.Versions, after.Versions)
	}
	for q, b := range before.ByVersion {
		if a := after.ByVersion[q]; a != b {
			t.Errorf("%s:%s: GetFunctionConfiguration differs:\nbefore %s\nafter  %s", name, q, b, a)
		}
	}
	for q, b := range before.VersionCode {
		if a := after.VersionCode[q]; string(a) != string(b) {
			t.Errorf("%s:%s: the version's code differs after the restart", name, q)
		}
	}
	if before.Aliases != after.Aliases {
		t.Errorf("%s: ListAliases differs:\nbefore %s\nafter  %s", name, before.Aliases, after.Aliases)
	}
	if before.Tags != after.Tags {
		t.Errorf("%s: ListTags differs: before %s after %s", name, before.Tags, after.Tags)
	}
	if before.Concurrency != after.Concurrency {
		t.Errorf("%s: GetFunctionConcurrency differs: before %s after %s", name, before.Concurrency, after.Concurrency)
	}
}

// TestDurabilityKill9: everything acknowledged survives kill -9 issued the moment
// the last call returns.
func TestDurabilityKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, serverOptions{dataDir: dir})
	c := s.client()

	a, b, gone, pruned := uniqueName("dur-a"), uniqueName("dur-b"), uniqueName("dur-gone"), uniqueName("dur-pruned")
	createFunction(t, c, a, func(in *lambda.CreateFunctionInput) {
		in.Publish = true
		in.Tags = map[string]string{"team": "hearth", "tier": "1"}
		in.Environment = &types.Environment{Variables: map[string]string{"STAGE": "one"}}
	})
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(a),
		Environment: &types.Environment{Variables: map[string]string{"STAGE": "two"}}, MemorySize: aws.Int32(512)})
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(a), Description: aws.String("second")})
	call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(a), ZipFile: pythonZip(t, a+"-3"), Publish: true})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(a), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: weights(map[string]float64{"2": 0.25})})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(a), Name: aws.String("prod"), FunctionVersion: aws.String("3"), Description: aws.String("production")})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a), ReservedConcurrentExecutions: aws.Int32(7)})
	call(t, c.TagResource, &lambda.TagResourceInput{Resource: aws.String(functionArn(a)), Tags: map[string]string{"added": "later"}})
	call(t, c.UntagResource, &lambda.UntagResourceInput{Resource: aws.String(functionArn(a)), TagKeys: []string{"tier"}})

	createFunction(t, c, b, func(in *lambda.CreateFunctionInput) {
		in.Runtime = types.RuntimeNodejs20x
		in.Handler = aws.String("index.handler")
		in.Code.ZipFile = nodeZip(t, b)
		in.Architectures = []types.Architecture{types.ArchitectureArm64}
	})
	call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(b), ZipFile: nodeZip(t, b+"-2")})

	createFunction(t, c, gone, func(in *lambda.CreateFunctionInput) { in.Publish = true })
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(gone)})

	createFunction(t, c, pruned, func(in *lambda.CreateFunctionInput) { in.Publish = true })
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(pruned), Timeout: aws.Int32(5)})
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(pruned)})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(pruned), Name: aws.String("old"), FunctionVersion: aws.String("1")})
	call(t, c.DeleteAlias, &lambda.DeleteAliasInput{FunctionName: aws.String(pruned), Name: aws.String("old")})
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(pruned), Qualifier: aws.String("1")})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(pruned), ReservedConcurrentExecutions: aws.Int32(3)})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(pruned), ReservedConcurrentExecutions: aws.Int32(3)})
	call(t, c.DeleteFunctionConcurrency, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(pruned)})

	last := uniqueName("dur-last")
	createFunction(t, c, last)

	names := []string{a, b, pruned}
	before := map[string]functionState{}
	for _, n := range names {
		before[n] = captureFunction(t, c, n)
	}
	var listedBefore []types.FunctionConfiguration
	for _, f := range listAllFunctions(t, c, types.FunctionVersionAll) {
		if deref(f.FunctionName) != last {
			listedBefore = append(listedBefore, f)
		}
	}
	listBefore := jsonOf(t, listedBefore)
	settingsBefore := call(t, c.GetAccountSettings, &lambda.GetAccountSettingsInput{})

	// The last acknowledged writes, then kill -9 at once: no reads in between.
	call(t, c.TagResource, &lambda.TagResourceInput{Resource: aws.String(functionArn(last)), Tags: map[string]string{"final": "yes"}})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(last), ReservedConcurrentExecutions: aws.Int32(2)})
	lastPub := call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(last), ZipFile: pythonZip(t, last+"-final"), Publish: true})
	lastUpd := call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(last), Description: aws.String("final")})
	if err := s.kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}

	s2 := startServer(t, serverOptions{dataDir: dir})
	c2 := s2.client()
	for _, n := range names {
		compareStates(t, n, before[n], captureFunction(t, c2, n))
	}
	// The functions listed before the last writes, plus $LATEST and version 1 of last.
	listAfter := listAllFunctions(t, c2, types.FunctionVersionAll)
	var withoutLast []types.FunctionConfiguration
	var lastEntries []string
	for _, f := range listAfter {
		if deref(f.FunctionName) == last {
			lastEntries = append(lastEntries, deref(f.Version))
			continue
		}
		withoutLast = append(withoutLast, f)
	}
	if got := jsonOf(t, withoutLast); got != listBefore {
		t.Errorf("ListFunctions(ALL) differs after the restart:\nbefore %s\nafter  %s", listBefore, got)
	}
	if fmt.Sprint(lastEntries) != "[$LATEST 1]" {
		t.Errorf("%s is listed with versions %v, want [$LATEST 1]", last, lastEntries)
	}
	settingsAfter := call(t, c2.GetAccountSettings, &lambda.GetAccountSettingsInput{})
	if deref(settingsAfter.AccountLimit.UnreservedConcurrentExecutions) != deref(settingsBefore.AccountLimit.UnreservedConcurrentExecutions)-2 {
		t.Errorf("UnreservedConcurrentExecutions after the restart = %d, want %d - 2",
			deref(settingsAfter.AccountLimit.UnreservedConcurrentExecutions), deref(settingsBefore.AccountLimit.UnreservedConcurrentExecutions))
	}
	if settingsAfter.AccountUsage.FunctionCount != 4 {
		t.Errorf("FunctionCount after the restart = %d, want 4", settingsAfter.AccountUsage.FunctionCount)
	}

	// The writes acknowledged just before kill -9.
	got := call(t, c2.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(last)})
	if got.Tags["final"] != "yes" {
		t.Errorf("%s: the tag written just before kill -9 is gone: %v", last, got.Tags)
	}
	if got.Concurrency == nil || deref(got.Concurrency.ReservedConcurrentExecutions) != 2 {
		t.Errorf("%s: the reservation written just before kill -9 is gone: %s", last, jsonOf(t, got.Concurrency))
	}
	if a, b := jsonOf(t, configOf(t, got.Configuration)), jsonOf(t, configOf(t, lastUpd)); a != b {
		t.Errorf("%s: $LATEST differs from the last acknowledged update:\nacknowledged %s\nafter        %s", last, b, a)
	}
	v1 := call(t, c2.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(last), Qualifier: aws.String("1")})
	if a, b := jsonOf(t, configOf(t, v1)), jsonOf(t, configOf(t, lastPub)); a != b {
		t.Errorf("%s:1 differs from what UpdateFunctionCode(Publish) acknowledged:\nacknowledged %s\nafter        %s", last, b, a)
	}

	// Deleted things stay deleted.
	_, err := c2.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(gone)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c2.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(pruned), Qualifier: aws.String("1")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c2.GetAlias(ctxT(t), &lambda.GetAliasInput{FunctionName: aws.String(pruned), Name: aws.String("old")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	// Writing continues where it stopped: version numbers are not reused.
	call(t, c2.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(a), Timeout: aws.Int32(44)})
	if v := call(t, c2.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(a)}); deref(v.Version) != "4" {
		t.Errorf("the first version published after the restart is %q, want 4", deref(v.Version))
	}
}

// TestDurabilityKillDuringBurst kills the server with kill -9 while 8 clients create,
// update, publish and delete. After a restart, every call that returned success must
// be fully there, and the listings must agree with each other and with Get*.
func TestDurabilityKillDuringBurst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, serverOptions{dataDir: dir})
	c := s.client()
	prefix := uniqueName("burst")

	var (
		mu      sync.Mutex
		acked   = map[string]map[string]string{} // function → version → acknowledged configuration ("" for $LATEST)
		deleted = map[string]bool{}              // acknowledged deletes
		doomed  = map[string]bool{}              // deletes sent, acknowledged or not
		killed  atomic.Bool
		ops     atomic.Int64
	)
	failed := func(op string, err error) bool {
		if err == nil {
			return false
		}
		if !killed.Load() {
			t.Errorf("%s failed before the kill: %v", op, err)
		}
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := 0; j < 10000 && ctx.Err() == nil; j++ {
				name := fmt.Sprintf("%s-%d-%d", prefix, g, j)
				in := createInput(name, pythonZip(t, name))
				in.Publish = j%2 == 0
				in.Description = aws.String(fmt.Sprintf("g%d j%d", g, j))
				out, err := c.CreateFunction(ctx, in)
				if failed("CreateFunction "+name, err) {
					return
				}
				mu.Lock()
				acked[name] = map[string]string{"$LATEST": ""}
				if in.Publish {
					// Compared with GetFunctionConfiguration(Qualifier=1), which names
					// the version in FunctionArn.
					cfg := configOf(t, out)
					cfg.FunctionArn = aws.String(functionArn(name) + ":1")
					acked[name]["1"] = jsonOf(t, cfg)
				}
				mu.Unlock()
				ops.Add(1)

				_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
					Environment: &types.Environment{Variables: map[string]string{"ITER": strconv.Itoa(j)}}})
				if failed("UpdateFunctionConfiguration "+name, err) {
					return
				}
				pub, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
				if failed("PublishVersion "+name, err) {
					return
				}
				mu.Lock()
				acked[name][deref(pub.Version)] = jsonOf(t, configOf(t, pub))
				mu.Unlock()
				ops.Add(1)

				if j%3 == 2 {
					prev := fmt.Sprintf("%s-%d-%d", prefix, g, j-1)
					mu.Lock()
					doomed[prev] = true
					mu.Unlock()
					_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(prev)})
					if failed("DeleteFunction "+prev, err) {
						return
					}
					mu.Lock()
					deleted[prev] = true
					mu.Unlock()
					ops.Add(1)
				}
			}
		}(g)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ops.Load() < 60 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	killed.Store(true)
	if err := s.kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	cancel()
	wg.Wait()
	t.Logf("killed after %d acknowledged operations on %d functions", ops.Load(), len(acked))
	if ops.Load() < 60 {
		t.Fatalf("only %d operations succeeded in 30s", ops.Load())
	}

	s2 := startServer(t, serverOptions{dataDir: dir})
	c2 := s2.client()

	// Every acknowledged write is there, exactly as acknowledged. A function whose
	// delete was in flight at the kill may be there or not, but not half.
	inFlightDeletes := 0
	for name, versions := range acked {
		_, err := c2.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		switch {
		case deleted[name]:
			wantAPIError(t, err, "ResourceNotFoundException", 404)
			continue
		case doomed[name] && errorCode(err) == "ResourceNotFoundException":
			inFlightDeletes++
			continue
		case err != nil:
			t.Errorf("acknowledged function %s: %v", name, err)
			continue
		}
		for q, cfg := range versions {
			if q == "$LATEST" {
				continue
			}
			got, err := c2.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String(q)})
			if err != nil {
				t.Errorf("acknowledged version %s:%s: %v", name, q, err)
				continue
			}
			if g := jsonOf(t, configOf(t, got)); g != cfg {
				t.Errorf("%s:%s differs from what was acknowledged:\nacknowledged %s\nafter        %s", name, q, cfg, g)
			}
		}
	}

	// The listings agree with each other and with Get*.
	all := listAllFunctions(t, c2, types.FunctionVersionAll)
	byFunction := map[string][]string{}
	for _, f := range all {
		name, q := deref(f.FunctionName), deref(f.Version)
		byFunction[name] = append(byFunction[name], q)
		in := &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)}
		if q != "$LATEST" {
			in.Qualifier = aws.String(q) // $LATEST is read unqualified: its listed ARN is
		}
		got, err := c2.GetFunctionConfiguration(ctxT(t), in)
		if err != nil {
			t.Errorf("ListFunctions(ALL) lists %s:%s, but GetFunctionConfiguration fails: %v", name, q, err)
			continue
		}
		if a, b := jsonOf(t, configOf(t, got)), jsonOf(t, f); a != b {
			t.Errorf("%s:%s is listed as\n%s\nbut reads as\n%s", name, q, b, a)
		}
	}
	latest := listAllFunctions(t, c2, "")
	listed := map[string]bool{}
	for _, f := range latest {
		name := deref(f.FunctionName)
		listed[name] = true
		if _, err := c2.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name)}); err != nil {
			t.Errorf("ListFunctions lists %s, but GetFunction fails: %v", name, err)
		}
		vs := versionList(listVersions(t, c2, name))
		if want := joinVersions(byFunction[name]); vs != want {
			t.Errorf("%s: ListVersionsByFunction says %s, ListFunctions(ALL) says %s", name, vs, want)
		}
		for _, q := range byFunction[name] {
			if q == "$LATEST" {
				continue
			}
			if _, err := c2.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String(q)}); err != nil {
				t.Errorf("%s:%s is listed, but GetFunction fails: %v", name, q, err)
			}
		}
	}
	if len(byFunction) != len(listed) {
		t.Errorf("ListFunctions lists %d functions, ListFunctions(ALL) %d", len(listed), len(byFunction))
	}
	for name := range acked {
		if !doomed[name] && !listed[name] {
			t.Errorf("acknowledged function %s is not listed", name)
		}
		if deleted[name] && listed[name] {
			t.Errorf("deleted function %s is listed", name)
		}
	}

	// Writing continues: a new version never reuses an acknowledged number.
	t.Logf("%d deletes in flight at the kill took effect", inFlightDeletes)
	var some []string
	for name := range acked {
		if !doomed[name] {
			some = append(some, name)
		}
	}
	sort.Strings(some)
	if len(some) > 5 {
		some = some[:5]
	}
	for _, name := range some {
		call(t, c2.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(1536)})
		v := call(t, c2.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
		n, _ := strconv.Atoi(deref(v.Version))
		for q := range acked[name] {
			if m, err := strconv.Atoi(q); err == nil && m >= n {
				t.Errorf("%s: PublishVersion after the restart answered %d, but version %d was acknowledged before", name, n, m)
			}
		}
		for _, q := range byFunction[name] {
			if m, err := strconv.Atoi(q); err == nil && m >= n {
				t.Errorf("%s: PublishVersion after the restart answered %d, but version %d is listed", name, n, m)
			}
		}
	}
}

func joinVersions(vs []string) string {
	out := ""
	for i, v := range vs {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

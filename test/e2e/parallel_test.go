package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

const writers = 16

// retryConflicts runs op until it returns something other than
// ResourceConflictException (Lambda's "an update is in progress", which clients
// retry), within a deadline. It returns the final error and how many conflicts it saw.
func retryConflicts(op func() error) (error, int) {
	deadline := time.Now().Add(60 * time.Second)
	conflicts := 0
	for {
		err := op()
		if errorCode(err) != "ResourceConflictException" || time.Now().After(deadline) {
			return err, conflicts
		}
		conflicts++
		time.Sleep(time.Duration(conflicts%7+1) * time.Millisecond)
	}
}

// TestConcurrentPublish: 16 clients each change $LATEST (description and an
// environment variable of their own) and publish, all on one function.
func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()

	// As a careless client would: update, then publish whatever $LATEST is now. A
	// version number may come back to more than one client (nothing changed between
	// two publishes), but never for two different contents, and numbers are
	// contiguous.
	t.Run("unguarded", func(t *testing.T) {
		name := uniqueName("conc-pub")
		createFunction(t, c, name)
		type result struct {
			who int
			cfg types.FunctionConfiguration
		}
		results := make([]result, writers)
		var wg sync.WaitGroup
		conflicts := make([]int, writers)
		errs := make([]error, writers)
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var n int
				errs[i], n = retryConflicts(func() error {
					_, err := c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
						Description: aws.String(fmt.Sprintf("writer %d", i)),
						Environment: &types.Environment{Variables: map[string]string{"WHO": strconv.Itoa(i)}}})
					return err
				})
				conflicts[i] += n
				if errs[i] != nil {
					return
				}
				errs[i], n = retryConflicts(func() error {
					out, err := c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name)})
					if err == nil {
						results[i] = result{i, configOf(t, out)}
					}
					return err
				})
				conflicts[i] += n
			}(i)
		}
		wg.Wait()
		total := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
			total += conflicts[i]
		}
		t.Logf("%d ResourceConflictException retries", total)
		if t.Failed() {
			return
		}
		byVersion := map[int]string{}
		for _, r := range results {
			n, err := strconv.Atoi(deref(r.cfg.Version))
			if err != nil {
				t.Fatalf("writer %d got version %q", r.who, deref(r.cfg.Version))
			}
			content := jsonOf(t, r.cfg)
			if prev, ok := byVersion[n]; ok && prev != content {
				t.Errorf("version %d was answered with two different contents:\n%s\n%s", n, prev, content)
			}
			byVersion[n] = content
		}
		max := 0
		for n := range byVersion {
			max = maxInt(max, n)
		}
		whos := map[string]int{}
		for n := 1; n <= max; n++ {
			cfg, err := c.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String(strconv.Itoa(n))})
			if err != nil {
				t.Errorf("version %d of 1..%d: %v (versions must be contiguous)", n, max, err)
				continue
			}
			if want, ok := byVersion[n]; ok && jsonOf(t, configOf(t, cfg)) != want {
				t.Errorf("version %d reads\n%s\nbut was answered as\n%s", n, jsonOf(t, configOf(t, cfg)), want)
			}
			who := cfg.Environment.Variables["WHO"]
			if prev, dup := whos[who]; dup {
				t.Errorf("versions %d and %d both hold writer %s's state", prev, n, who)
			}
			whos[who] = n
		}
		if got := versionList(listVersions(t, c, name)); got != "$LATEST,"+seq(1, max) {
			t.Errorf("versions = %s, want $LATEST,%s", got, seq(1, max))
		}
	})

	// As a careful client would: publish with the RevisionId its update returned,
	// and start over on PreconditionFailedException. Every writer ends with a version
	// of its own state: 16 versions, 1..16, each with exactly one writer's state.
	t.Run("guarded by RevisionId", func(t *testing.T) {
		name := uniqueName("conc-rev")
		createFunction(t, c, name)
		got := make([]types.FunctionConfiguration, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				deadline := time.Now().Add(90 * time.Second)
				for attempt := 0; ; attempt++ {
					if time.Now().After(deadline) {
						errs[i] = fmt.Errorf("no successful publish in %d attempts", attempt)
						return
					}
					var upd *lambda.UpdateFunctionConfigurationOutput
					err, _ := retryConflicts(func() error {
						var err error
						upd, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
							Description: aws.String(fmt.Sprintf("writer %d", i)),
							Environment: &types.Environment{Variables: map[string]string{"WHO": strconv.Itoa(i)}}})
						return err
					})
					if err != nil {
						errs[i] = err
						return
					}
					pub, err := c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name), RevisionId: upd.RevisionId})
					switch errorCode(err) {
					case "":
						got[i] = configOf(t, pub)
						return
					case "PreconditionFailedException", "ResourceConflictException":
						time.Sleep(time.Duration(i%5+1) * time.Millisecond)
						continue
					default:
						errs[i] = err
						return
					}
				}
			}(i)
		}
		wg.Wait()
		versions := map[string]int{}
		for i, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
				continue
			}
			v := deref(got[i].Version)
			if prev, dup := versions[v]; dup {
				t.Errorf("writers %d and %d both got version %s", prev, i, v)
			}
			versions[v] = i
			if who := got[i].Environment.Variables["WHO"]; who != strconv.Itoa(i) || deref(got[i].Description) != fmt.Sprintf("writer %d", i) {
				t.Errorf("writer %d published with its RevisionId but version %s holds WHO=%s, Description %q", i, v, who, deref(got[i].Description))
			}
		}
		keys := sortedKeys(versions)
		sort.Slice(keys, func(a, b int) bool { x, _ := strconv.Atoi(keys[a]); y, _ := strconv.Atoi(keys[b]); return x < y })
		if fmt.Sprint(keys) != fmt.Sprint(splitSeq(1, writers)) {
			t.Errorf("versions published = %v, want 1..%d", keys, writers)
		}
		for v, i := range versions {
			cfg := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String(v)})
			if jsonOf(t, configOf(t, cfg)) != jsonOf(t, got[i]) {
				t.Errorf("version %s reads differently from what writer %d was answered", v, i)
			}
		}
	})
}

// TestConcurrentPublishUnchanged: simultaneous PublishVersion calls on a function
// that does not change meanwhile publish one version, which all of them are answered
// with ("Lambda doesn't publish a version if the function's configuration and code
// haven't changed since the last version"). 20 rounds of: change $LATEST, then 16
// publishes at once.
func TestConcurrentPublishUnchanged(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("conc-same")
	createFunction(t, c, name)
	const rounds = 20
	for round := 1; round <= rounds; round++ {
		call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
			Environment: &types.Environment{Variables: map[string]string{"ROUND": strconv.Itoa(round)}}})
		versions := make([]string, writers)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				errs[i], _ = retryConflicts(func() error {
					out, err := c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name)})
					if err == nil {
						versions[i] = deref(out.Version)
					}
					return err
				})
			}(i)
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, publisher %d: %v", round, i, err)
			}
		}
		got := map[string]int{}
		for _, v := range versions {
			got[v]++
		}
		vs := versionList(listVersions(t, c, name))
		if len(got) != 1 || vs != "$LATEST,"+seq(1, round) {
			t.Fatalf("round %d: 16 concurrent publishes of one unchanged state answered versions %v (version: how many), and the function now has versions %s; want one new version, %d, for all",
				round, got, vs, round)
		}
	}
}

// TestConcurrentCreateSameName: of 16 simultaneous creates of one name, exactly one
// succeeds; the others get ResourceConflictException, and the function is the
// winner's.
func TestConcurrentCreateSameName(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("conc-create")
	zips := make([][]byte, writers)
	for i := range zips {
		zips[i] = pythonZip(t, fmt.Sprintf("%s-%d", name, i))
	}
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = c.CreateFunction(ctxT(t), createInput(name, zips[i]))
		}(i)
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("creates %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		default:
			wantAPIError(t, err, "ResourceConflictException", 409, name)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if deref(got.Configuration.CodeSha256) != sha256B64(zips[winner]) {
		t.Errorf("the function has CodeSha256 %q, not the winner's", deref(got.Configuration.CodeSha256))
	}
	if _, body := download(t, deref(got.Code.Location)); string(body) != string(zips[winner]) {
		t.Errorf("the function serves code that is not the winner's")
	}
}

// TestConcurrentTagging: 16 clients tag one function at once, each with a key of its
// own, while others update its configuration; no write is lost.
func TestConcurrentTagging(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("conc-tags")
	createFunction(t, c, name)
	arn := functionArn(name)
	var wg sync.WaitGroup
	errs := make([]error, 2*writers)
	for i := 0; i < writers; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			errs[i], _ = retryConflicts(func() error {
				_, err := c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{fmt.Sprintf("k%02d", i): strconv.Itoa(i)}})
				return err
			})
		}(i)
		go func(i int) {
			defer wg.Done()
			errs[writers+i], _ = retryConflicts(func() error {
				_, err := c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
					Environment: &types.Environment{Variables: map[string]string{"LAST": strconv.Itoa(i)}}})
				return err
			})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	tags := call(t, c.ListTags, &lambda.ListTagsInput{Resource: aws.String(arn)}).Tags
	for i := 0; i < writers; i++ {
		if tags[fmt.Sprintf("k%02d", i)] != strconv.Itoa(i) {
			t.Errorf("tag k%02d was lost: %v", i, tags)
		}
	}
}

// TestConcurrentReservations: 16 functions reserve 100 each at the same moment; the
// account keeps 100 unreserved of 1000, so exactly 9 succeed.
func TestConcurrentReservations(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	c := s.client()
	names := make([]string, writers)
	for i := range names {
		names[i] = uniqueName(fmt.Sprintf("conc-rsv-%d", i))
		createFunction(t, c, names[i])
	}
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i], _ = retryConflicts(func() error {
				_, err := c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(names[i]), ReservedConcurrentExecutions: aws.Int32(100)})
				return err
			})
		}(i)
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantAPIError(t, err, "InvalidParameterValueException", 400)
	}
	if ok != 9 {
		t.Errorf("%d reservations of 100 succeeded, want exactly 9", ok)
	}
	reserved := 0
	for _, n := range names {
		got := call(t, c.GetFunctionConcurrency, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(n)})
		if got.ReservedConcurrentExecutions != nil {
			reserved += int(*got.ReservedConcurrentExecutions)
		}
	}
	if reserved != 100*ok {
		t.Errorf("functions hold %d reserved in total, want %d", reserved, 100*ok)
	}
	wantUnreserved(t, c, int32(1000-reserved))
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func seq(from, to int) string {
	out := ""
	for i := from; i <= to; i++ {
		if i > from {
			out += ","
		}
		out += strconv.Itoa(i)
	}
	return out
}

func splitSeq(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

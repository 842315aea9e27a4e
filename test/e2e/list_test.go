package e2e

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestListFunctionsPaging pages through ListFunctions with the SDK's paginator. The
// server is shared, so other tests' functions come and go meanwhile; the properties
// checked hold regardless: pages are at most MaxItems long, names ascend strictly
// across pages, and every function of this test appears exactly once.
func TestListFunctionsPaging(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	prefix := uniqueName("list")
	var names []string
	for i := 0; i < 7; i++ {
		names = append(names, fmt.Sprintf("%s-%d", prefix, i))
	}
	// Create in a shuffled order: the listing must be sorted, not in creation order.
	order := rand.Perm(len(names))
	for _, i := range order {
		createFunction(t, c, names[i])
	}
	// Published versions of two of them, for FunctionVersion=ALL.
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(names[1])})
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(names[4])})
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(names[4]), MemorySize: aws.Int32(1024)})
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(names[4])})

	t.Run("default", func(t *testing.T) {
		p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{}, func(o *lambda.ListFunctionsPaginatorOptions) { o.Limit = 3 })
		var all []string
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatalf("page %d: %v", pages+1, err)
			}
			pages++
			if len(page.Functions) > 3 {
				t.Errorf("page %d has %d functions, more than MaxItems=3", pages, len(page.Functions))
			}
			if p.HasMorePages() && len(page.Functions) != 3 {
				t.Errorf("page %d has %d functions and a NextMarker; a page before the last should be full", pages, len(page.Functions))
			}
			for _, f := range page.Functions {
				all = append(all, deref(f.FunctionName))
				if v := deref(f.Version); v != "$LATEST" {
					t.Errorf("%s listed with Version %q; without FunctionVersion=ALL only $LATEST is listed", deref(f.FunctionName), v)
				}
				if deref(f.FunctionArn) != functionArn(deref(f.FunctionName)) {
					t.Errorf("%s listed with FunctionArn %q", deref(f.FunctionName), deref(f.FunctionArn))
				}
			}
			if pages > 10000 {
				t.Fatal("the paginator does not end")
			}
		}
		for i := 1; i < len(all); i++ {
			if all[i-1] >= all[i] {
				t.Errorf("names do not ascend across pages: %q then %q", all[i-1], all[i])
			}
		}
		var mine []string
		for _, n := range all {
			if strings.HasPrefix(n, prefix+"-") {
				mine = append(mine, n)
			}
		}
		if strings.Join(mine, ",") != strings.Join(names, ",") {
			t.Errorf("this test's functions listed as %v, want each once, sorted: %v", mine, names)
		}
		if pages < 3 {
			t.Errorf("%d pages of at most 3 for at least 7 functions", pages)
		}
	})

	t.Run("FunctionVersion=ALL", func(t *testing.T) {
		p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{FunctionVersion: "ALL"}, func(o *lambda.ListFunctionsPaginatorOptions) { o.Limit = 4 })
		var mine []string
		for p.HasMorePages() {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Functions) > 4 {
				t.Errorf("a page has %d entries, more than MaxItems=4", len(page.Functions))
			}
			for _, f := range page.Functions {
				n, v := deref(f.FunctionName), deref(f.Version)
				if !strings.HasPrefix(n, prefix+"-") {
					continue
				}
				mine = append(mine, n+":"+v)
				wantArn := functionArn(n)
				if v != "$LATEST" {
					wantArn += ":" + v
					if f.MemorySize == nil {
						t.Errorf("%s:%s has no MemorySize", n, v)
					}
				}
				if deref(f.FunctionArn) != wantArn {
					t.Errorf("%s:%s listed with FunctionArn %q, want %q", n, v, deref(f.FunctionArn), wantArn)
				}
			}
		}
		var want []string
		for i, n := range names {
			want = append(want, n+":$LATEST")
			switch i {
			case 1:
				want = append(want, n+":1")
			case 4:
				want = append(want, n+":1", n+":2")
			}
		}
		if strings.Join(mine, " ") != strings.Join(want, " ") {
			t.Errorf("FunctionVersion=ALL lists\n%v\nwant (by name, $LATEST first, then versions in order)\n%v", mine, want)
		}
	})

	t.Run("MaxItems bounds", func(t *testing.T) {
		for _, n := range []int32{0, 10001, -1} {
			_, err := c.ListFunctions(ctxT(t), &lambda.ListFunctionsInput{MaxItems: aws.Int32(n)})
			wantAPIError(t, err, "ValidationException", 400, "maxItems")
		}
		for _, n := range []int32{1, 10000} {
			out, err := c.ListFunctions(ctxT(t), &lambda.ListFunctionsInput{MaxItems: aws.Int32(n)})
			if err != nil {
				t.Errorf("MaxItems=%d: %v", n, err)
			} else if len(out.Functions) > int(n) {
				t.Errorf("MaxItems=%d returned %d", n, len(out.Functions))
			}
		}
		_, err := c.ListFunctions(ctxT(t), &lambda.ListFunctionsInput{FunctionVersion: "LATEST"})
		wantAPIError(t, err, "ValidationException", 400, "functionVersion")
		_, err = c.ListFunctions(ctxT(t), &lambda.ListFunctionsInput{Marker: aws.String("%%% not a marker")})
		if err == nil || httpStatus(err) != 400 {
			t.Errorf("ListFunctions with a garbage Marker: %v, want a 400", err)
		}
	})

	t.Run("marker of a deleted function", func(t *testing.T) {
		// A page ends at names[2]; deleting it must not break the next page.
		first, err := c.ListFunctions(ctxT(t), &lambda.ListFunctionsInput{MaxItems: aws.Int32(1), Marker: markerBefore(t, c, names[2])})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.Functions) != 1 || deref(first.Functions[0].FunctionName) != names[2] || first.NextMarker == nil {
			t.Fatalf("page = %s next %v, want just %s and a NextMarker", jsonOf(t, first.Functions), first.NextMarker, names[2])
		}
		call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(names[2])})
		next := call(t, c.ListFunctions, &lambda.ListFunctionsInput{MaxItems: aws.Int32(1), Marker: first.NextMarker})
		if len(next.Functions) != 1 || deref(next.Functions[0].FunctionName) != names[3] {
			t.Errorf("the page after the deleted %s is %s, want %s", names[2], jsonOf(t, next.Functions), names[3])
		}
	})
}

// markerBefore returns the NextMarker of a one-item page that ends just before name.
func markerBefore(t *testing.T, c *lambda.Client, name string) *string {
	t.Helper()
	var marker *string
	for i := 0; i < 10000; i++ {
		out := call(t, c.ListFunctions, &lambda.ListFunctionsInput{MaxItems: aws.Int32(1), Marker: marker})
		if len(out.Functions) == 0 {
			t.Fatalf("%s is not listed", name)
		}
		got := deref(out.Functions[0].FunctionName)
		if got >= name {
			if got != name {
				t.Fatalf("%s is not listed (reached %s)", name, got)
			}
			return marker
		}
		marker = out.NextMarker
	}
	t.Fatal("too many pages")
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package e2e

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// publishN creates a function and publishes n versions of it, each with a different
// environment.
func publishN(t testing.TB, c *lambda.Client, name string, n int) {
	t.Helper()
	createFunction(t, c, name)
	for i := 1; i <= n; i++ {
		if i > 1 {
			call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
				Environment: &types.Environment{Variables: map[string]string{"VERSION": string(rune('0' + i))}}})
		}
		v := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
		if deref(v.Version) != string(rune('0'+i)) {
			t.Fatalf("publish %d answered version %q", i, deref(v.Version))
		}
	}
}

func weights(w map[string]float64) *types.AliasRoutingConfiguration {
	return &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
}

// TestAliases covers the alias operations and the rules of routing configurations.
// Error types follow what AWS answers (LocalStack's AWS-recorded
// TestLambdaAlias::test_notfound_and_invalid_routingconfigs).
func TestAliases(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("alias")
	arn := functionArn(name)
	publishN(t, c, name, 3)

	live := call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1"), Description: aws.String("the live one")})
	if deref(live.AliasArn) != arn+":live" || deref(live.Name) != "live" || deref(live.FunctionVersion) != "1" || deref(live.Description) != "the live one" || !reUUID.MatchString(deref(live.RevisionId)) || live.RoutingConfig != nil {
		t.Errorf("CreateAlias answered %s", jsonOf(t, live))
	}
	got := call(t, c.GetAlias, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	if a, b := jsonOf(t, aliasOf(got)), jsonOf(t, aliasOf(live)); a != b {
		t.Errorf("GetAlias = %s, want what CreateAlias answered: %s", a, b)
	}

	canary := call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(arn), Name: aws.String("canary"), FunctionVersion: aws.String("1"),
		RoutingConfig: weights(map[string]float64{"2": 0.3})})
	if canary.RoutingConfig == nil || !reflect.DeepEqual(canary.RoutingConfig.AdditionalVersionWeights, map[string]float64{"2": 0.3}) {
		t.Errorf("CreateAlias with routing answered RoutingConfig %s, want {2: 0.3}", jsonOf(t, canary.RoutingConfig))
	}
	got = call(t, c.GetAlias, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("canary")})
	if got.RoutingConfig == nil || !reflect.DeepEqual(got.RoutingConfig.AdditionalVersionWeights, map[string]float64{"2": 0.3}) {
		t.Errorf("GetAlias RoutingConfig = %s, want {2: 0.3}", jsonOf(t, got.RoutingConfig))
	}
	viaAlias := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("canary")})
	if deref(viaAlias.Configuration.Version) != "1" || deref(viaAlias.Configuration.FunctionArn) != arn+":canary" {
		t.Errorf("GetFunction Qualifier=canary: Version %q FunctionArn %q, want 1 and %s:canary", deref(viaAlias.Configuration.Version), deref(viaAlias.Configuration.FunctionArn), arn)
	}
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("prod"), FunctionVersion: aws.String("3")})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("dev"), FunctionVersion: aws.String("$LATEST")})

	t.Run("invalid", func(t *testing.T) {
		create := func(alias, version string, w map[string]float64) error {
			in := &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String(alias), FunctionVersion: aws.String(version)}
			if w != nil {
				in.RoutingConfig = weights(w)
			}
			_, err := c.CreateAlias(ctxT(t), in)
			return err
		}
		wantAPIError(t, create("w15", "1", map[string]float64{"2": 1.5}), "ValidationException", 400, "additionalVersionWeights")
		wantAPIError(t, create("wneg", "1", map[string]float64{"2": -0.1}), "ValidationException", 400, "additionalVersionWeights")
		wantAPIError(t, create("two", "1", map[string]float64{"2": 0.1, "3": 0.1}), "InvalidParameterValueException", 400)
		wantAPIError(t, create("latest", "$LATEST", map[string]float64{"2": 0.5}), "InvalidParameterValueException", 400, "$LATEST")
		wantAPIError(t, create("same", "1", map[string]float64{"1": 0.5}), "InvalidParameterValueException", 400)
		wantAPIError(t, create("ghost", "1", map[string]float64{"9": 0.5}), "ResourceNotFoundException", 404, arn+":9")
		wantAPIError(t, create("ghost", "9", nil), "ResourceNotFoundException", 404, arn+":9")
		wantAPIError(t, create("123", "1", nil), "ValidationException", 400, "name")
		wantAPIError(t, create("bad name", "1", nil), "ValidationException", 400, "name")
		wantAPIError(t, create(strings.Repeat("a", 129), "1", nil), "ValidationException", 400)
		wantAPIError(t, create("live", "2", nil), "ResourceConflictException", 409, "Alias already exists: "+arn+":live")
		_, err := c.CreateAlias(ctxT(t), &lambda.CreateAliasInput{FunctionName: aws.String(uniqueName("missing")), Name: aws.String("x"), FunctionVersion: aws.String("1")})
		wantAPIError(t, err, "ResourceNotFoundException", 404)
		for _, a := range []string{"w15", "wneg", "two", "latest", "same", "ghost", "123"} {
			if _, err := c.GetAlias(ctxT(t), &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String(a)}); err == nil {
				t.Errorf("refused alias %q exists", a)
			}
		}
	})

	t.Run("$LATEST as the additional version", func(t *testing.T) {
		// AWS: ValidationException, "Map keys must satisfy constraint: [... [0-9]+ ...]".
		_, err := c.CreateAlias(ctxT(t), &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("latestextra"), FunctionVersion: aws.String("1"),
			RoutingConfig: weights(map[string]float64{"$LATEST": 0.5})})
		wantAPIError(t, err, "ValidationException", 400, "additionalVersionWeights")
	})

	t.Run("update", func(t *testing.T) {
		_, err := c.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: aws.String("00000000-0000-4000-8000-000000000000")})
		wantAPIError(t, err, "PreconditionFailedException", 412, "Revision Id")
		if cur := call(t, c.GetAlias, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")}); deref(cur.FunctionVersion) != "1" || deref(cur.RevisionId) != deref(live.RevisionId) {
			t.Errorf("a refused UpdateAlias changed the alias: %s", jsonOf(t, aliasOf(cur)))
		}
		upd := call(t, c.UpdateAlias, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: live.RevisionId})
		if deref(upd.FunctionVersion) != "2" || deref(upd.Description) != "the live one" || deref(upd.RevisionId) == deref(live.RevisionId) {
			t.Errorf("UpdateAlias answered %s, want version 2, the old description and a new RevisionId", jsonOf(t, aliasOf(upd)))
		}
		// Routing added, then changed, then removed with an empty map.
		upd = call(t, c.UpdateAlias, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), RoutingConfig: weights(map[string]float64{"3": 0.25})})
		if upd.RoutingConfig == nil || !reflect.DeepEqual(upd.RoutingConfig.AdditionalVersionWeights, map[string]float64{"3": 0.25}) || deref(upd.FunctionVersion) != "2" {
			t.Errorf("UpdateAlias with routing answered %s", jsonOf(t, aliasOf(upd)))
		}
		_, err = c.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("3")})
		wantAPIError(t, err, "InvalidParameterValueException", 400)
		_, err = c.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), RoutingConfig: weights(map[string]float64{"3": 2})})
		wantAPIError(t, err, "ValidationException", 400)
		upd = call(t, c.UpdateAlias, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), RoutingConfig: weights(map[string]float64{})})
		if upd.RoutingConfig != nil && len(upd.RoutingConfig.AdditionalVersionWeights) != 0 {
			t.Errorf("UpdateAlias with empty weights kept %s", jsonOf(t, upd.RoutingConfig))
		}
		upd = call(t, c.UpdateAlias, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), Description: aws.String("")})
		if deref(upd.Description) != "" || deref(upd.FunctionVersion) != "2" {
			t.Errorf("UpdateAlias Description=\"\" answered %s", jsonOf(t, aliasOf(upd)))
		}
		_, err = c.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("nosuch"), FunctionVersion: aws.String("1")})
		wantAPIError(t, err, "ResourceNotFoundException", 404)
	})

	t.Run("list", func(t *testing.T) {
		all := listAliases(t, c, name, "")
		if got := aliasNames(all); got != "canary,dev,live,prod" {
			t.Errorf("ListAliases = %s, want canary,dev,live,prod", got)
		}
		if got := aliasNames(listAliases(t, c, name, "1")); got != "canary" {
			t.Errorf("ListAliases FunctionVersion=1 = %s, want canary", got)
		}
		if got := aliasNames(listAliases(t, c, name, "3")); got != "prod" {
			t.Errorf("ListAliases FunctionVersion=3 = %s, want prod", got)
		}
		if got := aliasNames(listAliases(t, c, name, "$LATEST")); got != "dev" {
			t.Errorf("ListAliases FunctionVersion=$LATEST = %s, want dev", got)
		}
		// One per page.
		p := lambda.NewListAliasesPaginator(c, &lambda.ListAliasesInput{FunctionName: aws.String(name)}, func(o *lambda.ListAliasesPaginatorOptions) { o.Limit = 1 })
		var seq []string
		for p.HasMorePages() {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Aliases) > 1 {
				t.Errorf("a page of MaxItems=1 has %d aliases", len(page.Aliases))
			}
			for _, a := range page.Aliases {
				seq = append(seq, deref(a.Name))
			}
			if len(seq) > 50 {
				t.Fatal("the paginator does not end")
			}
		}
		if strings.Join(seq, ",") != "canary,dev,live,prod" {
			t.Errorf("ListAliases pages = %v", seq)
		}
		_, err := c.ListAliases(ctxT(t), &lambda.ListAliasesInput{FunctionName: aws.String(uniqueName("missing"))})
		wantAPIError(t, err, "ResourceNotFoundException", 404)
	})

	t.Run("delete", func(t *testing.T) {
		_, err := c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("3")})
		wantAPIError(t, err, "ResourceConflictException", 409, "prod")
		call(t, c.DeleteAlias, &lambda.DeleteAliasInput{FunctionName: aws.String(name), Name: aws.String("prod")})
		_, err = c.GetAlias(ctxT(t), &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("prod")})
		wantAPIError(t, err, "ResourceNotFoundException", 404, arn+":prod")
		_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("prod")})
		wantAPIError(t, err, "ResourceNotFoundException", 404)
		if got := aliasNames(listAliases(t, c, name, "")); got != "canary,dev,live" {
			t.Errorf("ListAliases after DeleteAlias = %s", got)
		}
		call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("3")})
	})
}

func listAliases(t testing.TB, c *lambda.Client, name, version string) []types.AliasConfiguration {
	t.Helper()
	in := &lambda.ListAliasesInput{FunctionName: aws.String(name)}
	if version != "" {
		in.FunctionVersion = aws.String(version)
	}
	var all []types.AliasConfiguration
	p := lambda.NewListAliasesPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("ListAliases %s: %v", name, err)
		}
		all = append(all, page.Aliases...)
	}
	return all
}

func aliasNames(as []types.AliasConfiguration) string {
	var n []string
	for _, a := range as {
		n = append(n, deref(a.Name))
	}
	return strings.Join(n, ",")
}

// aliasOf turns any alias output into an AliasConfiguration.
func aliasOf(v any) types.AliasConfiguration {
	var a types.AliasConfiguration
	switch o := v.(type) {
	case *lambda.CreateAliasOutput:
		a = types.AliasConfiguration{AliasArn: o.AliasArn, Description: o.Description, FunctionVersion: o.FunctionVersion, Name: o.Name, RevisionId: o.RevisionId, RoutingConfig: o.RoutingConfig}
	case *lambda.GetAliasOutput:
		a = types.AliasConfiguration{AliasArn: o.AliasArn, Description: o.Description, FunctionVersion: o.FunctionVersion, Name: o.Name, RevisionId: o.RevisionId, RoutingConfig: o.RoutingConfig}
	case *lambda.UpdateAliasOutput:
		a = types.AliasConfiguration{AliasArn: o.AliasArn, Description: o.Description, FunctionVersion: o.FunctionVersion, Name: o.Name, RevisionId: o.RevisionId, RoutingConfig: o.RoutingConfig}
	}
	return a
}

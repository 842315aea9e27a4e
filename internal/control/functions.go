package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hearthfn/hearth/internal/codezip"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// code is a validated zip, ready to store.
type code struct {
	data         []byte
	sha256Hex    string
	sha256B64    string
	unzippedSize int64
}

// checkCode validates a zip against Lambda's limits. It decompresses every entry
// through a counting reader, so a zip bomb stops at the unzipped limit.
func checkCode(zip []byte) (*code, error) {
	if len(zip) == 0 {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Code.ZipFile is empty: upload a zip file with your function's code.")
	}
	info, err := codezip.Inspect(zip, codezip.Limits{MaxZipped: MaxZippedBytes, MaxUnzipped: MaxUnzippedBytes, MaxEntries: codezip.DefaultLimits().MaxEntries})
	switch {
	case errors.Is(err, codezip.ErrZippedTooLarge):
		return nil, errdefs.New(errdefs.ErrRequestEntityTooLarge, "Zipped size must be smaller than %d bytes", MaxZippedBytes)
	case errors.Is(err, codezip.ErrUnzippedTooLarge):
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Unzipped size must be smaller than %d bytes", MaxUnzippedBytes)
	case errors.Is(err, codezip.ErrInvalidZip):
		// AWS's message, which names no cause.
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Could not unzip uploaded file. Please check your file, then try to upload again.")
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errdefs.ErrInvalidParameter, err)
	}
	sum := sha256.Sum256(zip)
	return &code{
		data:         zip,
		sha256Hex:    hex.EncodeToString(sum[:]),
		sha256B64:    base64.StdEncoding.EncodeToString(sum[:]),
		unzippedSize: info.UnzippedSize,
	}, nil
}

func (s *Service) storeCode(ctx context.Context, c *code) error {
	if err := s.st.Code.Put(ctx, c.sha256Hex, c.data); err != nil {
		return storeError(err)
	}
	return nil
}

func (v *versionConfig) setCode(c *code) {
	v.CodeSha256, v.CodeKey, v.CodeSize, v.UnzippedSize = c.sha256B64, c.sha256Hex, int64(len(c.data)), c.unzippedSize
}

func (s *Service) runtimeUsable(rt string) error {
	if err := validateRuntime(rt); err != nil {
		return err
	}
	if s.checkRuntime != nil {
		if err := s.checkRuntime(rt); err != nil {
			return fmt.Errorf("%w: %v", errdefs.ErrInvalidParameter, err)
		}
	}
	return nil
}

// fields are the members CreateFunction shares with UpdateFunctionConfiguration.
func (in *CreateFunctionInput) fields() *functionFields {
	f := &functionFields{
		Handler: &in.Handler, Description: &in.Description, Timeout: in.Timeout, MemorySize: in.MemorySize,
		VpcConfig: in.VpcConfig, Environment: in.Environment, KMSKeyArn: in.KMSKeyArn, TracingConfig: in.TracingConfig,
		EphemeralStorage: in.EphemeralStorage, SnapStart: in.SnapStart, LoggingConfig: in.LoggingConfig,
	}
	if in.Role != "" {
		f.Role = &in.Role
	}
	return f
}

// CreateFunction validates everything, stores the zip, then the function.
func (s *Service) CreateFunction(ctx context.Context, in *CreateFunctionInput) (*FunctionConfiguration, error) {
	// The model's constraints first, all of them, as AWS checks them.
	var (
		errs   modelErrors
		ref    FunctionRef
		refErr error
	)
	if in.FunctionName == "" {
		errs.addNull("functionName")
	} else {
		ref, refErr = s.parseRef(shapeFunctionName, "functionName", in.FunctionName, &errs)
	}
	if in.Role == "" {
		errs.addNull("role")
	}
	if in.Code == nil {
		errs.addNull("code")
	}
	fields := in.fields()
	fields.checkModel(&errs)
	if in.PackageType != "" {
		checkEnum(&errs, in.PackageType, "packageType", "Zip", "Image")
	}
	checkArchitectures(&errs, in.Architectures)
	if err := errs.err(); err != nil {
		return nil, err
	}
	if refErr != nil {
		return nil, refErr
	}
	// The name's own bound, which the pattern does not carry: AWS answers it in the
	// validation format, but as the service's InvalidParameterValueException.
	if len(ref.Name) > MaxFunctionNameLength {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to %d", ref.Name, MaxFunctionNameLength)
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "A function name for CreateFunction cannot carry a qualifier (%q); publish versions with PublishVersion.", ref.Qualifier)
	}
	if in.PackageType == "Image" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support container image functions (PackageType Image) yet; deploy a zip.")
	}
	if in.Runtime == "" || in.Handler == "" {
		return nil, errMissingRuntimeOrHandler
	}
	if err := s.runtimeUsable(in.Runtime); err != nil {
		return nil, err
	}
	if err := in.unsupported.refuse(); err != nil {
		return nil, err
	}
	if err := validateHandler(in.Runtime, in.Handler); err != nil {
		return nil, err
	}
	if err := fields.checkService(); err != nil {
		return nil, err
	}
	v := versionConfig{
		Version:       Latest,
		Runtime:       in.Runtime,
		Role:          in.Role,
		Handler:       in.Handler,
		Description:   in.Description,
		Timeout:       DefaultTimeoutSeconds,
		MemorySize:    DefaultMemoryMB,
		EphemeralMB:   MinEphemeralMB,
		Architectures: []string{"x86_64"},
		Tracing:       in.TracingConfig,
		Logging:       in.LoggingConfig,
	}
	if in.Timeout != nil {
		v.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		v.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil {
		v.EphemeralMB = in.EphemeralStorage.Size
	}
	if in.Environment != nil {
		v.Environment = in.Environment.Variables
	}
	if in.Architectures != nil {
		v.Architectures = in.Architectures
	}
	if in.KMSKeyArn != nil {
		v.KMSKeyArn = *in.KMSKeyArn
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	var err error
	if v.DeadLetterArn, err = s.checkDeadLetter(in.DeadLetterConfig); err != nil {
		return nil, err
	}
	if in.Code.S3Bucket != nil || in.Code.S3Key != nil || in.Code.ImageUri != nil {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth takes code only as Code.ZipFile (S3 and image locations are not supported yet).")
	}
	c, err := checkCode(in.Code.ZipFile)
	if err != nil {
		return nil, err
	}
	if _, exists := s.st.Functions.Get(ref.Name); exists {
		return nil, errdefs.New(errdefs.ErrConflict, "Function already exist: %s", ref.Name)
	}
	if err := s.storeCode(ctx, c); err != nil {
		return nil, err
	}
	v.setCode(c)
	v.LastModified = s.now()
	v.RevisionId = newID()
	rec := &functionRecord{Name: ref.Name, Gen: newGen(), Latest: v, Tags: in.Tags}
	b, _ := json.Marshal(rec)
	if _, err := s.st.Functions.Create(ctx, ref.Name, b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, errdefs.New(errdefs.ErrConflict, "Function already exist: %s", ref.Name)
		}
		return nil, storeError(err)
	}
	if in.Publish {
		// Lambda answers a create-and-publish with the new version's configuration
		// under the function's unqualified ARN.
		c, err := s.publish(ctx, ref.Name, &PublishVersionInput{})
		if err != nil {
			return nil, err
		}
		c.FunctionArn = s.FunctionArn(ref.Name)
		return c, nil
	}
	return s.render(ref.Name, &rec.Latest), nil
}

// resolved is a qualifier resolved to the version it runs.
type resolved struct {
	rec       *functionRecord
	version   *versionConfig
	alias     *aliasRecord // set when the qualifier was an alias
	qualified bool         // the caller named a qualifier
}

// resolve finds the version a function name and qualifier stand for.
func (s *Service) resolve(ref FunctionRef, qualifier string) (*resolved, error) {
	q, err := resolveQualifier(ref, qualifier)
	if err != nil {
		return nil, err
	}
	return s.resolveQualified(ref.Name, q)
}

// resolveQualified finds the version a qualifier ("" for none) of a function stands
// for. Whatever is missing, the function, the version or the alias, AWS answers
// "Function not found" with the ARN as the caller qualified it.
func (s *Service) resolveQualified(name, q string) (*resolved, error) {
	rec, _, err := s.loadFunction(name)
	if errdefs.KindOf(err) == errdefs.ErrNotFound {
		return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.qualifiedArnOf(name, q))
	}
	if err != nil {
		return nil, err
	}
	r := &resolved{rec: rec, qualified: q != ""}
	switch {
	case q == "" || q == Latest:
		r.version = &rec.Latest
	case reVersion.MatchString(q):
		n, _ := strconv.Atoi(q)
		if r.version, err = s.loadVersion(rec, n); err != nil {
			if errdefs.KindOf(err) == errdefs.ErrNotFound {
				return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(name, q))
			}
			return nil, err
		}
	default:
		if r.alias, err = s.loadAlias(rec, q); err != nil {
			if errdefs.KindOf(err) == errdefs.ErrNotFound {
				return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(name, q))
			}
			return nil, err
		}
		if r.alias.FunctionVersion == Latest {
			r.version = &rec.Latest
		} else {
			n, _ := strconv.Atoi(r.alias.FunctionVersion)
			if r.version, err = s.loadVersion(rec, n); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func (s *Service) loadVersion(rec *functionRecord, n int) (*versionConfig, error) {
	if n < 1 || n > rec.LastVersion {
		return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(rec.Name, strconv.Itoa(n)))
	}
	e, ok := s.st.Versions.Get(versionKey(rec.Name, rec.Gen, n))
	if !ok {
		return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(rec.Name, strconv.Itoa(n)))
	}
	var v versionConfig
	if err := json.Unmarshal(e.Value, &v); err != nil {
		return nil, fmt.Errorf("%w: corrupt version record: %v", errdefs.ErrService, err)
	}
	return &v, nil
}

func (s *Service) configOf(r *resolved) *FunctionConfiguration {
	c := s.renderArn(r.rec.Name, r.version, r.qualified)
	if r.alias != nil {
		c.FunctionArn = s.QualifiedArn(r.rec.Name, r.alias.Name)
	}
	return c
}

// GetFunctionConfiguration returns one version's configuration.
func (s *Service) GetFunctionConfiguration(ctx context.Context, functionName, qualifier string) (*FunctionConfiguration, error) {
	ref, q, err := s.parseQualified(functionName, qualifier)
	if err != nil {
		return nil, err
	}
	r, err := s.resolveQualified(ref.Name, q)
	if err != nil {
		return nil, err
	}
	return s.configOf(r), nil
}

// GetFunction returns a version's configuration, tags, reserved concurrency, and the
// digest of its code (the edge turns the digest into a download URL).
func (s *Service) GetFunction(ctx context.Context, functionName, qualifier string) (*GetFunctionOutput, string, error) {
	ref, q, err := s.parseQualified(functionName, qualifier)
	if err != nil {
		return nil, "", err
	}
	r, err := s.resolveQualified(ref.Name, q)
	if err != nil {
		return nil, "", err
	}
	out := &GetFunctionOutput{
		Configuration: s.configOf(r),
		Code:          &FunctionCodeLocation{RepositoryType: "S3"},
		Tags:          r.rec.Tags,
	}
	if n, ok := s.reservedFor(r.rec); ok {
		out.Concurrency = &Concurrency{ReservedConcurrentExecutions: &n}
	}
	return out, r.version.CodeKey, nil
}

// Code returns the zip stored under a digest.
func (s *Service) Code(ctx context.Context, sha256Hex string) ([]byte, error) {
	b, err := s.st.Code.Get(ctx, sha256Hex)
	if errors.Is(err, store.ErrNoCode) {
		return nil, errdefs.New(errdefs.ErrNotFound, "No code with digest %s.", sha256Hex)
	}
	if err != nil {
		return nil, storeError(err)
	}
	return b, nil
}

// UpdateFunctionCode replaces $LATEST's code, and publishes a version if asked.
func (s *Service) UpdateFunctionCode(ctx context.Context, in *UpdateFunctionCodeInput) (*FunctionConfiguration, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", in.FunctionName, &errs)
	checkArchitectures(&errs, in.Architectures)
	if e := errs.err(); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "UpdateFunctionCode updates $LATEST; remove the qualifier %q from the function name.", ref.Qualifier)
	}
	// The function and its revision before the code: AWS answers a stale RevisionId
	// ahead of any other complaint about the request.
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	if in.RevisionId != "" && in.RevisionId != rec.Latest.RevisionId {
		return nil, revisionMismatch()
	}
	if in.ImageUri != nil {
		// Every Hearth function is a zip function.
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Please don't provide ImageUri when updating a function with packageType Zip.")
	}
	if len(in.PublishTo) > 0 && string(in.PublishTo) != "null" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support PublishTo yet; remove it from the request.")
	}
	if in.S3Bucket != nil || in.S3Key != nil {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth takes code only as ZipFile (S3 locations are not supported yet).")
	}
	if in.ZipFile == nil {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Please provide a source for function code: ZipFile.")
	}
	c, err := checkCode(in.ZipFile)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		v := rec.Latest
		v.setCode(c)
		return s.render(ref.Name, &v), nil
	}
	if err := s.storeCode(ctx, c); err != nil {
		return nil, err
	}
	rec, err = s.mutateFunction(ctx, ref.Name, func(rec *functionRecord) error {
		if in.RevisionId != "" && in.RevisionId != rec.Latest.RevisionId {
			return revisionMismatch()
		}
		rec.Latest.setCode(c)
		if in.Architectures != nil {
			rec.Latest.Architectures = in.Architectures
		}
		rec.Latest.LastModified = s.now()
		rec.Latest.RevisionId = newID()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if in.Publish {
		return s.publish(ctx, ref.Name, &PublishVersionInput{})
	}
	return s.render(ref.Name, &rec.Latest), nil
}

func revisionMismatch() error {
	return errdefs.New(errdefs.ErrPreconditionFailed, "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
}

// fields are the members UpdateFunctionConfiguration shares with CreateFunction.
func (in *UpdateFunctionConfigurationInput) fields() *functionFields {
	return &functionFields{
		Role: in.Role, Handler: in.Handler, Description: in.Description, Timeout: in.Timeout, MemorySize: in.MemorySize,
		VpcConfig: in.VpcConfig, Environment: in.Environment, KMSKeyArn: in.KMSKeyArn, TracingConfig: in.TracingConfig,
		EphemeralStorage: in.EphemeralStorage, SnapStart: in.SnapStart, LoggingConfig: in.LoggingConfig,
	}
}

// UpdateFunctionConfiguration changes the members given and keeps the rest.
func (s *Service) UpdateFunctionConfiguration(ctx context.Context, in *UpdateFunctionConfigurationInput) (*FunctionConfiguration, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", in.FunctionName, &errs)
	fields := in.fields()
	fields.checkModel(&errs)
	if e := errs.err(); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "UpdateFunctionConfiguration updates $LATEST; remove the qualifier %q from the function name.", ref.Qualifier)
	}
	// The function and its revision before the service's checks: AWS answers a stale
	// RevisionId ahead of, say, a runtime it no longer accepts.
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	if in.RevisionId != "" && in.RevisionId != rec.Latest.RevisionId {
		return nil, revisionMismatch()
	}
	if in.Runtime != nil {
		if err := s.runtimeUsable(*in.Runtime); err != nil {
			return nil, err
		}
	}
	if err := in.unsupported.refuse(); err != nil {
		return nil, err
	}
	if err := fields.checkService(); err != nil {
		return nil, err
	}
	deadLetter, err := s.checkDeadLetter(in.DeadLetterConfig)
	if err != nil {
		return nil, err
	}
	rec, err = s.mutateFunction(ctx, ref.Name, func(rec *functionRecord) error {
		if in.RevisionId != "" && in.RevisionId != rec.Latest.RevisionId {
			return revisionMismatch()
		}
		v := &rec.Latest
		if in.Runtime != nil {
			v.Runtime = *in.Runtime
		}
		if in.Handler != nil {
			v.Handler = *in.Handler
		}
		if err := validateHandler(v.Runtime, v.Handler); err != nil {
			return err
		}
		if in.Role != nil {
			v.Role = *in.Role
		}
		if in.Description != nil {
			v.Description = *in.Description
		}
		if in.Timeout != nil {
			v.Timeout = *in.Timeout
		}
		if in.MemorySize != nil {
			v.MemorySize = *in.MemorySize
		}
		if in.EphemeralStorage != nil {
			v.EphemeralMB = in.EphemeralStorage.Size
		}
		if in.Environment != nil {
			v.Environment = in.Environment.Variables
			if len(v.Environment) == 0 {
				v.Environment = nil
			}
		}
		if in.TracingConfig != nil {
			v.Tracing = in.TracingConfig
		}
		if in.LoggingConfig != nil {
			v.Logging = in.LoggingConfig
		}
		if in.KMSKeyArn != nil {
			v.KMSKeyArn = *in.KMSKeyArn
		}
		if in.DeadLetterConfig != nil {
			v.DeadLetterArn = deadLetter // an empty TargetArn removes it
		}
		v.LastModified = s.now()
		v.RevisionId = newID()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.render(ref.Name, &rec.Latest), nil
}

// DeleteFunction deletes a function, or with a qualifier one published version.
func (s *Service) DeleteFunction(ctx context.Context, functionName, qualifier string) error {
	ref, q, err := s.parseQualified(functionName, qualifier)
	if err != nil {
		return err
	}
	// What a qualifier cannot name is refused before AWS looks the function up.
	switch {
	case q == Latest:
		return errdefs.New(errdefs.ErrInvalidParameter, "$LATEST version cannot be deleted without deleting the function.")
	case isAliasName(q):
		return errdefs.New(errdefs.ErrInvalidParameter, "Deletion of aliases is not currently supported.")
	}
	rec, rev, err := s.loadFunction(ref.Name)
	if err != nil {
		return err
	}
	switch {
	case q == "":
	case reDigits.MatchString(q):
		return s.deleteVersion(ctx, rec, q)
	default:
		return errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(ref.Name, q))
	}
	if err := s.st.Functions.Delete(ctx, ref.Name, rev); err != nil {
		if errors.Is(err, store.ErrRevision) {
			return errdefs.New(errdefs.ErrConflict, "The function %s changed while it was being deleted; retry.", ref.Name)
		}
		return storeError(err)
	}
	// The function is gone for every reader now; what follows is cleanup, which the
	// collector redoes if a crash interrupts it.
	s.sweepGeneration(ctx, ref.Name, rec.Gen)
	_ = s.clearReservation(ctx, ref.Name)
	s.clearAsync(ctx, ref.Name, rec.Gen)
	return nil
}

// deleteVersion deletes a published version. Deleting one that does not exist (any
// more) succeeds, as on AWS: the call is idempotent.
func (s *Service) deleteVersion(ctx context.Context, rec *functionRecord, q string) error {
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > rec.LastVersion {
		return nil
	}
	if _, err := s.loadVersion(rec, n); err != nil {
		if errdefs.KindOf(err) == errdefs.ErrNotFound {
			return nil
		}
		return err
	}
	var users []string
	for _, a := range s.aliasesOf(rec) {
		if a.FunctionVersion == q {
			users = append(users, a.Name)
			continue
		}
		if _, ok := a.Weights[q]; ok {
			users = append(users, a.Name)
		}
	}
	if len(users) > 0 {
		return errdefs.New(errdefs.ErrConflict, "Unable to delete version because the following aliases reference it: %v", users)
	}
	if err := s.st.Versions.Delete(ctx, versionKey(rec.Name, rec.Gen, n), 0); err != nil {
		return storeError(err)
	}
	// Its async and provisioned configs go with it; one failing does not keep the other.
	errAsync := s.dropEventInvokeConfig(ctx, rec, q)
	if err := s.dropProvisioned(ctx, rec, q); err != nil {
		return err
	}
	return errAsync
}

// sweepGeneration removes the versions and aliases of one generation of a function.
func (s *Service) sweepGeneration(ctx context.Context, name, gen string) {
	for _, k := range s.st.Versions.Keys(versionPrefix(name, gen)) {
		_ = s.st.Versions.Delete(ctx, k, 0)
	}
	for _, k := range s.st.Aliases.Keys(versionPrefix(name, gen)) {
		_ = s.st.Aliases.Delete(ctx, k, 0)
	}
}

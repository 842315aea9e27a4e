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
	if err != nil {
		if errors.Is(err, codezip.ErrZippedTooLarge) {
			return nil, fmt.Errorf("%w: %v", errdefs.ErrRequestTooLarge, err)
		}
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

// CreateFunction validates everything, stores the zip, then the function.
func (s *Service) CreateFunction(ctx context.Context, in *CreateFunctionInput) (*FunctionConfiguration, error) {
	ref, err := s.ParseFunctionRef("functionName", in.FunctionName)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "A function name for CreateFunction cannot carry a qualifier (%q); publish versions with PublishVersion.", ref.Qualifier)
	}
	if err := in.unsupported.refuse(); err != nil {
		return nil, err
	}
	if in.PackageType != "" && in.PackageType != "Zip" {
		if in.PackageType != "Image" {
			return nil, validationError(in.PackageType, "packageType", "Member must satisfy enum value set: [Zip, Image]")
		}
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support container image functions (PackageType Image) yet; deploy a zip.")
	}
	if err := validateRole(in.Role); err != nil {
		return nil, err
	}
	if in.Runtime == "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "The Runtime parameter is required for functions with PackageType Zip.")
	}
	if err := s.runtimeUsable(in.Runtime); err != nil {
		return nil, err
	}
	if err := validateHandler(in.Runtime, in.Handler); err != nil {
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
	if err := validateDescription(in.Description); err != nil {
		return nil, err
	}
	if in.Timeout != nil {
		if err := validateRange(*in.Timeout, "timeout", MinTimeoutSeconds, MaxTimeoutSeconds); err != nil {
			return nil, err
		}
		v.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		if err := validateRange(*in.MemorySize, "memorySize", MinMemoryMB, MaxMemoryMB); err != nil {
			return nil, err
		}
		v.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil {
		if err := validateRange(in.EphemeralStorage.Size, "ephemeralStorage.size", MinEphemeralMB, MaxEphemeralMB); err != nil {
			return nil, err
		}
		v.EphemeralMB = in.EphemeralStorage.Size
	}
	if in.Environment != nil {
		if err := validateEnvironment(in.Environment.Variables); err != nil {
			return nil, err
		}
		v.Environment = in.Environment.Variables
	}
	if in.Architectures != nil {
		if err := validateArchitectures(in.Architectures); err != nil {
			return nil, err
		}
		v.Architectures = in.Architectures
	}
	if err := validateTracing(in.TracingConfig); err != nil {
		return nil, err
	}
	if err := validateLogging(in.LoggingConfig); err != nil {
		return nil, err
	}
	if in.KMSKeyArn != nil {
		v.KMSKeyArn = *in.KMSKeyArn
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if v.DeadLetterArn, err = s.checkDeadLetter(in.DeadLetterConfig); err != nil {
		return nil, err
	}
	if in.Code == nil {
		return nil, validationError("null", "code", "Member must not be null")
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
	rec, _, err := s.loadFunction(ref.Name)
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
			return nil, err
		}
	default:
		if r.alias, err = s.loadAlias(rec, q); err != nil {
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
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	r, err := s.resolve(ref, qualifier)
	if err != nil {
		return nil, err
	}
	return s.configOf(r), nil
}

// GetFunction returns a version's configuration, tags, reserved concurrency, and the
// digest of its code (the edge turns the digest into a download URL).
func (s *Service) GetFunction(ctx context.Context, functionName, qualifier string) (*GetFunctionOutput, string, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, "", err
	}
	r, err := s.resolve(ref, qualifier)
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
	ref, err := s.ParseFunctionRef("functionName", in.FunctionName)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "UpdateFunctionCode updates $LATEST; remove the qualifier %q from the function name.", ref.Qualifier)
	}
	if len(in.PublishTo) > 0 && string(in.PublishTo) != "null" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support PublishTo yet; remove it from the request.")
	}
	if in.S3Bucket != nil || in.S3Key != nil || in.ImageUri != nil {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth takes code only as ZipFile (S3 and image locations are not supported yet).")
	}
	if in.Architectures != nil {
		if err := validateArchitectures(in.Architectures); err != nil {
			return nil, err
		}
	}
	if in.ZipFile == nil {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Please provide a source for function code: ZipFile.")
	}
	c, err := checkCode(in.ZipFile)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.loadFunction(ref.Name); err != nil {
		return nil, err
	}
	if in.DryRun {
		rec, _, err := s.loadFunction(ref.Name)
		if err != nil {
			return nil, err
		}
		v := rec.Latest
		v.setCode(c)
		return s.render(ref.Name, &v), nil
	}
	if err := s.storeCode(ctx, c); err != nil {
		return nil, err
	}
	rec, err := s.mutateFunction(ctx, ref.Name, func(rec *functionRecord) error {
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

// UpdateFunctionConfiguration changes the members given and keeps the rest.
func (s *Service) UpdateFunctionConfiguration(ctx context.Context, in *UpdateFunctionConfigurationInput) (*FunctionConfiguration, error) {
	ref, err := s.ParseFunctionRef("functionName", in.FunctionName)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "UpdateFunctionConfiguration updates $LATEST; remove the qualifier %q from the function name.", ref.Qualifier)
	}
	if err := in.unsupported.refuse(); err != nil {
		return nil, err
	}
	// Validate everything before touching the record.
	if in.Role != nil {
		if err := validateRole(*in.Role); err != nil {
			return nil, err
		}
	}
	if in.Runtime != nil {
		if err := s.runtimeUsable(*in.Runtime); err != nil {
			return nil, err
		}
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return nil, err
		}
	}
	if in.Timeout != nil {
		if err := validateRange(*in.Timeout, "timeout", MinTimeoutSeconds, MaxTimeoutSeconds); err != nil {
			return nil, err
		}
	}
	if in.MemorySize != nil {
		if err := validateRange(*in.MemorySize, "memorySize", MinMemoryMB, MaxMemoryMB); err != nil {
			return nil, err
		}
	}
	if in.EphemeralStorage != nil {
		if err := validateRange(in.EphemeralStorage.Size, "ephemeralStorage.size", MinEphemeralMB, MaxEphemeralMB); err != nil {
			return nil, err
		}
	}
	if in.Environment != nil {
		if err := validateEnvironment(in.Environment.Variables); err != nil {
			return nil, err
		}
	}
	if err := validateTracing(in.TracingConfig); err != nil {
		return nil, err
	}
	if err := validateLogging(in.LoggingConfig); err != nil {
		return nil, err
	}
	deadLetter, err := s.checkDeadLetter(in.DeadLetterConfig)
	if err != nil {
		return nil, err
	}
	rec, err := s.mutateFunction(ctx, ref.Name, func(rec *functionRecord) error {
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
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return err
	}
	q, err := resolveQualifier(ref, qualifier)
	if err != nil {
		return err
	}
	rec, rev, err := s.loadFunction(ref.Name)
	if err != nil {
		return err
	}
	switch {
	case q == "":
	case q == Latest:
		return errdefs.New(errdefs.ErrInvalidParameter, "$LATEST version cannot be deleted without deleting the function.")
	case reVersion.MatchString(q):
		return s.deleteVersion(ctx, rec, q)
	default:
		return errdefs.New(errdefs.ErrInvalidParameter, "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias.")
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

func (s *Service) deleteVersion(ctx context.Context, rec *functionRecord, q string) error {
	n, _ := strconv.Atoi(q)
	if _, err := s.loadVersion(rec, n); err != nil {
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

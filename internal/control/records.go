package control

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// functionRecord is one function: its $LATEST version and what belongs to the
// function as a whole.
type functionRecord struct {
	Name        string        `json:"name"`
	Gen         string        `json:"gen"`
	Latest      versionConfig `json:"latest"`
	LastVersion int           `json:"lastVersion"`
	// PublishedHash is the configHash of the last published version, so PublishVersion
	// can tell "nothing changed" without reading the version.
	PublishedHash string            `json:"publishedHash,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
}

// versionConfig is everything that is fixed per version.
type versionConfig struct {
	Version       string            `json:"version"`
	Runtime       string            `json:"runtime"`
	Role          string            `json:"role"`
	Handler       string            `json:"handler"`
	Description   string            `json:"description,omitempty"`
	Timeout       int               `json:"timeout"`
	MemorySize    int               `json:"memorySize"`
	EphemeralMB   int               `json:"ephemeralMB"`
	Environment   map[string]string `json:"environment,omitempty"`
	Architectures []string          `json:"architectures"`
	Tracing       *TracingConfig    `json:"tracing,omitempty"`
	Logging       *LoggingConfig    `json:"logging,omitempty"`
	KMSKeyArn     string            `json:"kmsKeyArn,omitempty"`
	// DeadLetterArn is DeadLetterConfig.TargetArn: part of the version, so a
	// published version keeps the queue it was published with, as on Lambda.
	DeadLetterArn string    `json:"deadLetterArn,omitempty"`
	CodeSha256    string    `json:"codeSha256"` // base64, as Lambda shows it
	CodeSize      int64     `json:"codeSize"`
	CodeKey       string    `json:"codeKey"` // hex SHA-256: the object store name
	UnzippedSize  int64     `json:"unzippedSize"`
	LastModified  time.Time `json:"lastModified"`
	RevisionId    string    `json:"revisionId"`
}

// configHash identifies a version's code and configuration, without the bookkeeping
// (version number, revision, time). The description counts: on Lambda, changing only
// $LATEST's description and publishing makes a new version.
func (v *versionConfig) configHash() string {
	c := *v
	c.Version, c.RevisionId, c.LastModified = "", "", time.Time{}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type aliasRecord struct {
	Name            string             `json:"name"`
	FunctionVersion string             `json:"functionVersion"`
	Description     string             `json:"description,omitempty"`
	Weights         map[string]float64 `json:"weights,omitempty"`
	RevisionId      string             `json:"revisionId"`
}

// reservation is one function's concurrency settings in the settings map: its
// reserved concurrency and its provisioned concurrency configs, in one record so
// that every check of the account's pool is one compare-and-set.
type reservation struct {
	Gen string `json:"gen"`
	N   int    `json:"n"`
	// Unreserved: the function has no reservation; the entry holds only its
	// provisioned configs. (Entries written before provisioned concurrency are
	// all reservations.)
	Unreserved  bool                         `json:"unreserved,omitempty"`
	Provisioned map[string]provisionedRecord `json:"provisioned,omitempty"` // by qualifier
}

// provisionedRecord is one provisioned concurrency config, of an alias or version.
type provisionedRecord struct {
	Requested    int    `json:"requested"`
	LastModified string `json:"lastModified"`
}

// reserved is the function's reservation, if it has one.
func (r reservation) reserved() (int, bool) { return r.N, !r.Unreserved }

// provisioned is the sum of the function's provisioned configs.
func (r reservation) provisioned() int {
	total := 0
	for _, p := range r.Provisioned {
		total += p.Requested
	}
	return total
}

// committed is what the function takes out of the account's pool: its reservation,
// or, without one, its provisioned concurrency.
func (r reservation) committed() int {
	if n, ok := r.reserved(); ok {
		return n
	}
	return r.provisioned()
}

const keyReservedConcurrency = "reserved-concurrency"

func versionKey(name, gen string, n int) string { return fmt.Sprintf("%s.%s.%010d", name, gen, n) }
func versionPrefix(name, gen string) string     { return name + "." + gen + "." }
func aliasKey(name, gen, alias string) string   { return name + "." + gen + "." + alias }

// newID returns a random RFC 4122 version 4 UUID, Lambda's RevisionId format.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// newGen returns a short random id, safe in a KV key.
func newGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lambdaTime is Lambda's LastModified format.
func lambdaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

// Package codezip validates and unpacks Lambda deployment packages (the ZipFile of
// CreateFunction and UpdateFunctionCode) without trusting anything in them.
//
// The control plane calls Inspect before it stores a package; the worker calls Extract
// once to unpack it into a directory that sandboxes mount read-only. Both apply the same
// checks: Lambda's size limits, enforced on the bytes that decompression really
// produces rather than on the sizes the headers claim; an entry-count bound; and paths
// and symbolic links that cannot reach outside the package's directory.
//
// Every error wraps one of the sentinels below (test with errors.Is); its text is a
// message for the person who uploaded the package, naming the entry at fault.
package codezip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Sentinel errors.
var (
	// ErrInvalidZip: not a zip, corrupt, a CRC or size mismatch, an unsupported
	// compression method, or an encrypted entry.
	ErrInvalidZip = errors.New("codezip: invalid zip file")
	// ErrZippedTooLarge: the zip itself is over Limits.MaxZipped.
	ErrZippedTooLarge = errors.New("codezip: zipped size too large")
	// ErrUnzippedTooLarge: the contents are over Limits.MaxUnzipped.
	ErrUnzippedTooLarge = errors.New("codezip: unzipped size too large")
	// ErrTooManyEntries: more than Limits.MaxEntries entries, or files and
	// directories to create.
	ErrTooManyEntries = errors.New("codezip: too many entries")
	// ErrUnsafePath: an entry or symbolic link that would reach outside the
	// package's directory, or entries that conflict with each other.
	ErrUnsafePath = errors.New("codezip: unsafe path")
)

// Limits are Lambda's deployment-package limits. A zero field means its default.
type Limits struct {
	MaxZipped   int64 // bytes of zip; 50 MB on Lambda
	MaxUnzipped int64 // bytes of decompressed contents; 250 MB on Lambda
	// MaxEntries bounds the zip's entries and the files and directories Extract
	// creates (parents included), so that a million tiny entries cost nothing.
	MaxEntries int
}

// DefaultLimits returns Lambda's limits for a zip deployment package.
func DefaultLimits() Limits {
	return Limits{MaxZipped: 52428800, MaxUnzipped: 262144000, MaxEntries: 100000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxZipped <= 0 {
		l.MaxZipped = d.MaxZipped
	}
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = d.MaxUnzipped
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

// Info describes a valid package.
type Info struct {
	UnzippedSize int64 // sum of the real (decompressed) sizes of regular files
	Entries      int   // entries in the zip's central directory
}

// Inspect checks that data is a zip Lambda would accept and that Extract can unpack
// safely. It decompresses every entry and counts the bytes produced, so a zip bomb
// stops at Limits.MaxUnzipped whatever its headers claim; headers that already claim
// too much are rejected before any work.
func Inspect(data []byte, lim Limits) (Info, error) {
	p, err := parse(data, lim.withDefaults())
	if err != nil {
		return Info{}, err
	}
	// Decompression is nearly all of Inspect's time and entries are independent,
	// so check them in parallel; the budget is shared.
	var (
		next   atomic.Int64
		failed atomic.Bool
		errs   = make([]error, len(p.files))
		wg     sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(p.files)) {
		wg.Go(func() {
			u := getUnzipper()
			defer putUnzipper(u)
			for i := int(next.Add(1) - 1); i < len(p.files) && !failed.Load(); i = int(next.Add(1) - 1) {
				if errs[i] = p.copyFile(u, p.files[i], nil); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Info{}, err // the earliest entry's, of those checked
		}
	}
	return p.info(), nil
}

// Limits of the file systems Extract writes to (Linux's NAME_MAX and PATH_MAX).
const (
	maxNameLen = 255
	maxPathLen = 4096
	maxLinks   = 40 // the kernel's limit on symbolic links followed in one lookup
)

type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindLink
)

// node is a file, directory or symbolic link that Extract would create.
// The tree of nodes is how conflicts and symbolic links are checked: it is
// exactly what will be on disk.
type node struct {
	name     string // one path element
	parent   *node  // nil for the root
	depth    int    // elements from the root
	kind     kind
	kids     []*node // directories: children in zip order, so Extract is deterministic
	byName   map[string]*node
	f        *zip.File   // files and links
	entry    string      // the entry's name as written in the zip, for messages
	mode     fs.FileMode // files
	target   string      // links
	resolved *node       // links: the directory the link leads to, once resolved
	cost     int         // links: how many links resolving it follows, itself included
	state    uint8       // links: unresolved, resolving, resolved
}

// pkg is a parsed package whose structure has been checked; the contents of its
// regular files are checked as they are copied.
type pkg struct {
	data   []byte
	lim    Limits
	root   *node
	nodes  int
	files  []*node // regular files in zip order
	links  []*node
	budget atomic.Int64 // bytes decompression may still produce
	size   atomic.Int64 // bytes produced for regular files
	nzip   int
}

func (p *pkg) info() Info { return Info{UnzippedSize: p.size.Load(), Entries: p.nzip} }

// parse checks everything about data that needs no file contents (plus link
// targets, which are tiny): sizes, the entry count, names, conflicts and links.
func parse(data []byte, lim Limits) (*pkg, error) {
	if int64(len(data)) > lim.MaxZipped {
		return nil, newError(ErrZippedTooLarge, "Zipped size must be smaller than %d bytes", lim.MaxZipped)
	}
	// archive/zip allocates a File per central directory record, so count them first.
	if n, ok := countRecords(data, lim.MaxEntries); ok && n > lim.MaxEntries {
		return nil, tooMany(lim)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // we check paths ourselves
		return nil, invalid("", "%v", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, tooMany(lim)
	}
	p := &pkg{data: data, lim: lim, root: &node{kind: kindDir}, nzip: len(zr.File)}
	p.budget.Store(lim.MaxUnzipped)
	var claimed uint64
	for _, f := range zr.File {
		if err := p.add(f); err != nil {
			return nil, err
		}
		if !f.Mode().IsDir() {
			// Reject early on the headers' claims; the real bytes are counted later.
			claimed += f.UncompressedSize64
			if claimed > uint64(lim.MaxUnzipped) || claimed < f.UncompressedSize64 {
				return nil, tooLarge(lim)
			}
		}
	}
	u := getUnzipper()
	defer putUnzipper(u)
	for _, n := range p.links {
		if err := p.readLink(u, n); err != nil {
			return nil, err
		}
	}
	for _, n := range p.links {
		if _, err := p.resolve(n, 0); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// add checks one entry and puts it in the tree.
func (p *pkg) add(f *zip.File) error {
	if f.Flags&0x1 != 0 {
		return invalid(f.Name, "encrypted entries are not supported")
	}
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return invalid(f.Name, "unsupported compression method %d (use deflate or store)", f.Method)
	}
	parts, err := cleanName(f.Name)
	if err != nil {
		return err
	}
	mode := f.Mode()
	k := kindFile
	switch {
	case mode.IsDir() || strings.HasSuffix(f.Name, `\`):
		k = kindDir
		// Tolerate compressed bytes that decompress to nothing (as archive/zip
		// does for jar files), but not a directory with contents.
		if f.UncompressedSize64 != 0 {
			return invalid(f.Name, "directory entry has contents")
		}
	case mode&fs.ModeSymlink != 0:
		k = kindLink
	}
	if len(parts) == 0 {
		if k == kindDir {
			return nil // "./": the root itself
		}
		return unsafePath(f.Name, "it names the package's root directory")
	}

	cur := p.root
	for _, part := range parts[:len(parts)-1] {
		next := cur.byName[part]
		if next == nil {
			if next, err = p.newNode(cur, part, kindDir); err != nil {
				return err
			}
		} else if next.kind != kindDir {
			// Also what stops writing through a symbolic link in the zip.
			return unsafePath(f.Name, "it goes through %q, which is a %s", next.entry, next.kind)
		}
		cur = next
	}
	last := parts[len(parts)-1]
	if old := cur.byName[last]; old != nil {
		if old.kind == kindDir && k == kindDir {
			return nil // duplicate directory entries are harmless
		}
		if old.entry == "" {
			return unsafePath(f.Name, "it conflicts with the directory that earlier entries are in")
		}
		return unsafePath(f.Name, "it conflicts with %q (a %s)", old.entry, old.kind)
	}
	n, err := p.newNode(cur, last, k)
	if err != nil {
		return err
	}
	n.f, n.entry = f, f.Name
	switch k {
	case kindFile:
		// Lambda keeps the executable bit (bootstrap needs it); nothing else.
		n.mode = 0o644
		if mode.Perm()&0o111 != 0 {
			n.mode = 0o755
		}
		p.files = append(p.files, n)
	case kindLink:
		p.links = append(p.links, n)
	}
	return nil
}

func (p *pkg) newNode(parent *node, name string, k kind) (*node, error) {
	p.nodes++
	if p.nodes > p.lim.MaxEntries {
		return nil, tooMany(p.lim)
	}
	n := &node{name: name, parent: parent, depth: parent.depth + 1, kind: k}
	if parent.byName == nil {
		parent.byName = make(map[string]*node)
	}
	parent.byName[name] = n
	parent.kids = append(parent.kids, n)
	return n, nil
}

func (k kind) String() string {
	switch k {
	case kindDir:
		return "directory"
	case kindLink:
		return "symbolic link"
	}
	return "file"
}

// cleanName splits an entry name into its path elements, dropping "." and empty
// ones (so "./a//b" is "a/b"; no elements is the root), and rejects names that are
// absolute, climb with "..", or that no file system would accept. Backslashes are
// read as separators, as Windows tools mean them and unzip reads them, so that
// `a\..\..\evil` is caught rather than written as an odd file name.
func cleanName(name string) ([]string, error) {
	switch {
	case name == "":
		return nil, unsafePath(name, "the name is empty")
	case len(name) > maxPathLen:
		return nil, unsafePath(name[:64]+"...", "the name is longer than %d bytes", maxPathLen)
	case strings.IndexByte(name, 0) >= 0:
		return nil, unsafePath(name, "the name contains a NUL byte")
	}
	slashed := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(slashed, "/") {
		return nil, unsafePath(name, "the path is absolute")
	}
	if len(slashed) >= 2 && slashed[1] == ':' && isLetter(slashed[0]) {
		return nil, unsafePath(name, "the path starts with a drive letter")
	}
	parts := strings.Split(slashed, "/")
	out := parts[:0]
	for _, part := range parts {
		switch {
		case part == "" || part == ".":
		case part == "..":
			return nil, unsafePath(name, `the path contains a ".." element`)
		case len(part) > maxNameLen:
			return nil, unsafePath(name, "a path element is longer than %d bytes", maxNameLen)
		default:
			out = append(out, part)
		}
	}
	return out, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// readLink reads a link's target and checks it lexically: relative, and not
// climbing above the root from the link's directory.
func (p *pkg) readLink(u *unzipper, n *node) error {
	var b bytes.Buffer
	if _, err := p.copyEntry(u, n, &b, maxPathLen-1); err != nil {
		if errors.Is(err, errOverLimit) {
			return unsafePath(n.entry, "the symbolic link's target is longer than %d bytes", maxPathLen-1)
		}
		return err
	}
	t := b.String()
	n.target = t
	switch {
	case t == "":
		return unsafePath(n.entry, "the symbolic link's target is empty")
	case strings.IndexByte(t, 0) >= 0:
		return unsafePath(n.entry, "the symbolic link's target contains a NUL byte")
	case strings.Contains(t, `\`):
		return unsafePath(n.entry, "the symbolic link's target %q contains a backslash", t)
	case strings.HasPrefix(t, "/"):
		return unsafePath(n.entry, "the symbolic link's target %q is absolute; use a relative path", t)
	}
	depth := n.parent.depth
	for _, part := range strings.Split(t, "/") {
		switch part {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return escapes(n)
			}
		default:
			depth++
		}
	}
	return nil
}

// resolve follows link n as the kernel would in the unpacked tree and returns the
// directory it leads to, or nil if the lookup would stop at a missing entry or a
// file (which is harmless). The lexical check in readLink is not enough on its own:
// with a/b/c/l -> ../../.., the target "a/b/c/l/.." is lexically inside but the
// kernel resolves it to the root's parent. Results are memoised, so each link is
// walked once; depth (the recursion) never exceeds n's cost, so bounding it rejects
// nothing the cost bound would not.
func (p *pkg) resolve(n *node, depth int) (*node, error) {
	const (
		_         = iota // unresolved
		resolving        // on the stack: meeting it again is a loop
		resolved
	)
	switch {
	case n.state == resolved:
		return n.resolved, nil
	case n.state == resolving:
		return nil, unsafePath(n.entry, "the symbolic link is part of a loop")
	case depth >= maxLinks:
		return nil, tooManyLinks(n)
	}
	n.state, n.cost = resolving, 1
	cur := n.parent
	for _, part := range strings.Split(n.target, "/") {
		if cur == nil {
			break
		}
		switch part {
		case "", ".":
		case "..":
			if cur = cur.parent; cur == nil {
				return nil, escapes(n)
			}
		default:
			next := cur.byName[part]
			if next != nil && next.kind == kindLink {
				link := next
				var err error
				if next, err = p.resolve(link, depth+1); err != nil {
					return nil, err
				}
				if n.cost += link.cost; n.cost > maxLinks {
					return nil, tooManyLinks(n)
				}
			}
			if next == nil || next.kind != kindDir {
				next = nil
			}
			cur = next
		}
	}
	n.state, n.resolved = resolved, cur
	return cur, nil
}

func tooManyLinks(n *node) error {
	return unsafePath(n.entry, "resolving the symbolic link follows more than %d links", maxLinks)
}

func escapes(n *node) error {
	return unsafePath(n.entry, "the symbolic link's target %q leads outside the package's directory", n.target)
}

// copyFile copies regular file n to w (nil: only check it).
func (p *pkg) copyFile(u *unzipper, n *node, w io.Writer) error {
	size, err := p.copyEntry(u, n, w, math.MaxInt64)
	p.size.Add(size)
	return err
}

// errOverLimit is copyEntry's report that an entry is over its own limit.
var errOverLimit = errors.New("over limit")

// copyEntry decompresses n's entry into w (nil: discard) and checks its size and
// CRC against the central directory. Every byte produced is charged to p.budget as
// it is produced, so that all the work Inspect and Extract do is bounded by
// MaxUnzipped, whatever the headers say. It stops with errOverLimit once the entry
// is over limit.
func (p *pkg) copyEntry(u *unzipper, n *node, w io.Writer, limit int64) (int64, error) {
	f := n.f
	off, err := f.DataOffset()
	if err != nil {
		return 0, invalid(n.entry, "bad local header: %v", err)
	}
	if off < 0 || off > int64(len(p.data)) || f.CompressedSize64 > uint64(int64(len(p.data))-off) {
		return 0, invalid(n.entry, "compressed data runs past the end of the file (truncated?)")
	}
	raw := p.data[off : off+int64(f.CompressedSize64)]

	var size int64
	var crc uint32
	produce := func(b []byte) error {
		if size += int64(len(b)); size > limit {
			return errOverLimit
		}
		if p.budget.Add(-int64(len(b))) < 0 {
			return tooLarge(p.lim)
		}
		crc = crc32.Update(crc, crc32.IEEETable, b)
		if w != nil {
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("codezip: writing %q: %w", n.entry, err)
			}
		}
		return nil
	}
	if f.Method == zip.Store {
		if err := produce(raw); err != nil {
			return 0, err
		}
	} else {
		u.br.Reset(raw)
		if err := u.fr.(flate.Resetter).Reset(&u.br, nil); err != nil {
			return 0, invalid(n.entry, "%v", err)
		}
		for {
			m, rerr := u.fr.Read(u.buf)
			if err := produce(u.buf[:m]); err != nil {
				return 0, err
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return 0, invalid(n.entry, "corrupt compressed data: %v", rerr)
			}
		}
	}
	if uint64(size) != f.UncompressedSize64 {
		return 0, invalid(n.entry, "it holds %d bytes but its header says %d", size, f.UncompressedSize64)
	}
	if crc != f.CRC32 {
		return 0, invalid(n.entry, "CRC mismatch (the data is corrupt)")
	}
	return size, nil
}

// unzipper holds a decompressor and buffer, pooled because a flate reader costs
// tens of kilobytes to set up and a package has many small entries.
type unzipper struct {
	br  bytes.Reader // an io.ByteReader, so flate reads it without buffering again
	fr  io.ReadCloser
	buf []byte
}

var unzippers = sync.Pool{New: func() any {
	return &unzipper{fr: flate.NewReader(bytes.NewReader(nil)), buf: make([]byte, 32<<10)}
}}

func getUnzipper() *unzipper  { return unzippers.Get().(*unzipper) }
func putUnzipper(u *unzipper) { u.br.Reset(nil); unzippers.Put(u) }

// countRecords returns how many central directory records archive/zip would try
// to read (an upper bound), giving up once past limit. It mirrors archive/zip's
// search for the end of central directory; ok is false if there is none.
func countRecords(data []byte, limit int) (n int, ok bool) {
	le16, le32, le64 := binary.LittleEndian.Uint16, binary.LittleEndian.Uint32, binary.LittleEndian.Uint64
	// The end record is the last signature in the last 65 KiB, if its comment fits.
	tail := data[max(len(data)-65*1024, 0):]
	i := len(tail) - 22
	for i >= 0 && !bytes.HasPrefix(tail[i:], []byte("PK\x05\x06")) {
		i--
	}
	if i < 0 || i+22+int(le16(tail[i+20:])) > len(tail) {
		return 0, false
	}
	endOff := len(data) - len(tail) + i
	end := data[endOff:]
	dirSize, dirOff := uint64(le32(end[12:])), uint64(le32(end[16:]))
	if le16(end[10:]) == 0xffff || dirSize == 0xffff || dirOff == 0xffffffff {
		// Zip64: a locator just before the end record points at the real one.
		l := endOff - 20
		if l >= 0 && bytes.HasPrefix(data[l:], []byte("PK\x06\x07")) && le32(data[l+4:]) == 0 && le32(data[l+16:]) == 1 {
			p := le64(data[l+8:])
			if p > uint64(len(data)) || uint64(len(data))-p < 56 || !bytes.HasPrefix(data[p:], []byte("PK\x06\x06")) {
				return 0, false
			}
			endOff = int(p)
			dirSize, dirOff = le64(data[p+40:]), le64(data[p+48:])
		}
	}
	if dirSize > uint64(len(data)) || dirOff > uint64(len(data)) {
		return 0, false
	}
	count := func(pos int) int {
		n := 0
		for ; n <= limit && pos >= 0 && pos+46 <= len(data) && bytes.HasPrefix(data[pos:], []byte("PK\x01\x02")); n++ {
			h := data[pos:]
			if pos += 46 + int(le16(h[28:])) + int(le16(h[30:])) + int(le16(h[32:])); pos > len(data) {
				break
			}
		}
		return n
	}
	// archive/zip starts at one of these (see its readDirectoryEnd).
	return max(count(endOff-int(dirSize)), count(int(dirOff))), true
}

// pkgError is an error of one of the sentinel kinds whose text is a message for
// the uploader.
type pkgError struct {
	kind error
	msg  string
}

func (e *pkgError) Error() string { return e.msg }
func (e *pkgError) Unwrap() error { return e.kind }

func newError(kind error, format string, args ...any) error {
	return &pkgError{kind, fmt.Sprintf(format, args...)}
}

func invalid(entry, format string, args ...any) error {
	detail := fmt.Sprintf(format, args...)
	if entry != "" {
		detail = fmt.Sprintf("entry %q: %s", entry, detail)
	}
	return newError(ErrInvalidZip, "Could not unzip uploaded file. Please check your file, then try to upload again. (%s)", detail)
}

func unsafePath(entry, format string, args ...any) error {
	return newError(ErrUnsafePath, "Zip entry %q is not allowed: %s", entry, fmt.Sprintf(format, args...))
}

func tooLarge(lim Limits) error {
	return newError(ErrUnzippedTooLarge, "Unzipped size must be smaller than %d bytes", lim.MaxUnzipped)
}

func tooMany(lim Limits) error {
	return newError(ErrTooManyEntries, "Zip file must contain at most %d files and directories", lim.MaxEntries)
}

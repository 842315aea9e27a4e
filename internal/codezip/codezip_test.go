package codezip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ent describes one zip entry for mkzip.
type ent struct {
	name  string
	body  string
	mode  fs.FileMode // 0: a 0644 file; ModeDir; ModeSymlink (body is the target)
	store bool        // zip.Store rather than zip.Deflate
}

func mkzip(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.store {
			h.Method = zip.Store
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mkraw makes a zip with one entry whose header and data are given as is.
func mkraw(t testing.TB, h *zip.FileHeader, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, err := w.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// extractTo extracts into a fresh directory inside a fresh parent, so the test can
// check that nothing was written beside it.
func extractTo(t testing.TB, data []byte, lim Limits) (parent, dir string, info Info, err error) {
	t.Helper()
	parent = t.TempDir()
	dir = filepath.Join(parent, "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	info, err = Extract(data, dir, lim)
	return parent, dir, info, err
}

func TestValid(t *testing.T) {
	data := mkzip(t,
		ent{name: "bootstrap", body: "#!/bin/sh\necho hi\n", mode: 0o755},
		ent{name: "lib/", mode: fs.ModeDir | 0o755},
		ent{name: "lib/a.js", body: "module.exports = 1\n"},
		ent{name: "deep/er/still/x.txt", body: strings.Repeat("x", 10000)}, // no directory entries
		ent{name: "./dot/y.txt", body: "y", store: true},
		ent{name: "./", mode: fs.ModeDir | 0o755},
		ent{name: "lib/", mode: fs.ModeDir | 0o755}, // duplicate directory: harmless
		ent{name: `win\style.txt`, body: "w"},
		ent{name: "empty.txt"},
		ent{name: "link.js", body: "lib/a.js", mode: fs.ModeSymlink | 0o777},
		ent{name: "deep/er/up", body: "../../lib", mode: fs.ModeSymlink | 0o777},
		ent{name: "dangling", body: "nowhere/at/all", mode: fs.ModeSymlink | 0o777},
	)
	want := Info{UnzippedSize: 18 + 19 + 10000 + 1 + 1, Entries: 12}

	info, err := Inspect(data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if info != want {
		t.Errorf("Inspect = %+v, want %+v", info, want)
	}

	parent, dir, info, err := extractTo(t, data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if info != want {
		t.Errorf("Extract = %+v, want %+v", info, want)
	}
	for name, mode := range map[string]fs.FileMode{
		"bootstrap":           0o755,
		"lib":                 fs.ModeDir | 0o755,
		"lib/a.js":            0o644,
		"deep/er/still":       fs.ModeDir | 0o755,
		"deep/er/still/x.txt": 0o644,
		"dot/y.txt":           0o644,
		"win/style.txt":       0o644,
		"empty.txt":           0o644,
		"link.js":             fs.ModeSymlink | 0o777,
		"deep/er/up":          fs.ModeSymlink | 0o777,
	} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
		}
	}
	for name, body := range map[string]string{
		"link.js":             "module.exports = 1\n",
		"deep/er/up/a.js":     "module.exports = 1\n",
		"bootstrap":           "#!/bin/sh\necho hi\n",
		"dot/y.txt":           "y",
		"deep/er/still/x.txt": strings.Repeat("x", 10000),
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != body {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	checkConfined(t, parent, dir)
}

func TestEmptyZip(t *testing.T) {
	data := mkzip(t)
	if info, err := Inspect(data, DefaultLimits()); err != nil || info != (Info{}) {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	if _, _, _, err := extractTo(t, data, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
}

// The fixtures were made by `zip -q -r -y` (with directory entries and symbolic
// links) and by Python's zipfile (including a "./"-prefixed name).
func TestFixtures(t *testing.T) {
	for file, want := range map[string][]string{
		"zip-r.zip":  {"bootstrap", "index.js", "lib/big.txt", "lib/nested/deep.txt", "bin/deep", "libalias/big.txt"},
		"python.zip": {"bootstrap", "index.js", "lib/big.txt", "lib/nested/deep.txt", "dotslash.txt"},
	} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Inspect(data, DefaultLimits()); err != nil {
				t.Fatal(err)
			}
			parent, dir, _, err := extractTo(t, data, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range want {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Error(err)
				}
			}
			if fi, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil || fi.Mode() != 0o755 {
				t.Errorf("bootstrap: %v, %v", fi.Mode(), err)
			}
			checkConfined(t, parent, dir)
		})
	}
}

// deflateZeros returns a raw deflate stream of n zero bytes (n-1 a multiple of 258),
// written by hand as a fixed-Huffman block of length-258, distance-1 copies: about
// 160:1, and far quicker to make than compressing the zeros (especially under -race).
func deflateZeros(n int64) []byte {
	var out []byte
	var acc uint64
	var nacc uint
	bits := func(v uint64, n uint) { // LSB first, as deflate packs values
		acc |= v << nacc
		for nacc += n; nacc >= 8; nacc -= 8 {
			out = append(out, byte(acc))
			acc >>= 8
		}
	}
	code := func(c uint64, n uint) { // Huffman codes go MSB first
		for i := int(n) - 1; i >= 0; i-- {
			bits(c>>uint(i)&1, 1)
		}
	}
	bits(1, 1)      // BFINAL
	bits(1, 2)      // fixed Huffman
	code(0x30+0, 8) // literal 0
	for i := int64(0); i < (n-1)/258; i++ {
		code(0xc0+5, 8) // length 258 (symbol 285)
		code(0, 5)      // distance 1
	}
	code(0, 7) // end of block
	bits(0, 7) // flush
	return out
}

func TestZipBomb(t *testing.T) {
	lim := DefaultLimits()
	unpacked := int64(258*1_100_000 + 1) // ~284 MB of zeros
	raw := deflateZeros(unpacked)

	for _, tc := range []struct {
		name  string
		claim uint64
	}{
		{"honest headers", uint64(unpacked)}, // rejected on the claim alone
		{"lying headers", 1000},              // must be caught by counting
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := mkraw(t, &zip.FileHeader{
				Name: "bomb", Method: zip.Deflate,
				CompressedSize64: uint64(len(raw)), UncompressedSize64: tc.claim,
			}, raw)
			t.Logf("%d-byte zip expanding to %d bytes", len(data), unpacked)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Inspect(data, lim)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrUnzippedTooLarge) {
				t.Fatalf("Inspect: %v, want ErrUnzippedTooLarge", err)
			}
			t.Logf("rejected in %v, allocating %d bytes: %v", elapsed, after.TotalAlloc-before.TotalAlloc, err)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("Inspect allocated %d bytes", alloc)
			}

			// Extract writes what it counts, so spare the disk 250 MB.
			parent, dir, _, err := extractTo(t, data, Limits{MaxUnzipped: 8 << 20})
			if !errors.Is(err, ErrUnzippedTooLarge) {
				t.Fatalf("Extract: %v, want ErrUnzippedTooLarge", err)
			}
			checkEmptied(t, parent, dir)
		})
	}

	// The budget is shared: honest entries use most of it, then a lying one
	// must stop at what is left.
	t.Run("shared budget", func(t *testing.T) {
		const n = 258*40_000 + 1 // ~10 MB each
		small := deflateZeros(n)
		crc := crc32.ChecksumIEEE(make([]byte, n))
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for i, claim := range []uint64{n, n, n, 1000} {
			fw, err := w.CreateRaw(&zip.FileHeader{
				Name: "f" + strconv.Itoa(i), Method: zip.Deflate, CRC32: crc,
				CompressedSize64: uint64(len(small)), UncompressedSize64: claim,
			})
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(small)
		}
		w.Close()
		lim := Limits{MaxUnzipped: 35 << 20}
		if _, err := Inspect(buf.Bytes(), lim); !errors.Is(err, ErrUnzippedTooLarge) {
			t.Fatalf("Inspect: %v, want ErrUnzippedTooLarge", err)
		}
		lim.MaxUnzipped = 4 * n
		if _, err := Inspect(buf.Bytes(), lim); !errors.Is(err, ErrInvalidZip) {
			t.Fatalf("Inspect within the limit: %v, want ErrInvalidZip", err)
		}
	})
}

func TestUnsafe(t *testing.T) {
	link := func(name, target string) ent { return ent{name: name, body: target, mode: fs.ModeSymlink | 0o777} }
	file := func(name string) ent { return ent{name: name, body: "evil"} }
	for name, ents := range map[string][]ent{
		"dotdot":                 {file("../evil")},
		"inner dotdot":           {file("a/../../evil")},
		"dotdot even if inside":  {file("a/../b")},
		"absolute":               {file("/etc/passwd")},
		"backslash dotdot":       {file(`a\..\..\evil`)},
		"backslash absolute":     {file(`\\server\share\evil`)},
		"drive letter":           {file(`C:\evil`)},
		"drive relative":         {file(`C:evil`)},
		"nul":                    {file("a\x00b")},
		"empty name":             {file("")},
		"long element":           {file(strings.Repeat("x", 256))},
		"root as file":           {{name: ".", body: "x"}},
		"link to /etc":           {link("etc", "/etc")},
		"link to ../..":          {link("a/up", "../..")},
		"link to ..":             {link("up", "..")},
		"link via missing dir":   {link("up", "nowhere/../..")},
		"link with backslash":    {link("up", `..\..`)},
		"empty link":             {link("l", "")},
		"write through link":     {link("link", "/tmp"), file("link/x")},
		"write through inner":    {file("sub/keep"), link("link", "sub"), file("link/x")},
		"link after its use":     {file("link/x"), link("link", "sub")},
		"chained links escape":   {link("a/b/c/l", "../../.."), link("m", "a/b/c/l/..")},
		"chained via later link": {link("m", "a/b/c/l/../x"), link("a/b/c/l", "../../..")},
		"link loop":              {link("a", "b/x"), link("b", "a/y")},
		"file then dir":          {file("a"), file("a/b")},
		"dir then file":          {{name: "a/", mode: fs.ModeDir | 0o755}, file("a")},
		"duplicate file":         {file("a"), file("./a")},
		"backslash duplicate":    {file("a/b"), file(`a\b`)},
	} {
		t.Run(name, func(t *testing.T) {
			data := mkzip(t, ents...)
			if _, err := Inspect(data, DefaultLimits()); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Inspect: %v, want ErrUnsafePath", err)
			} else {
				t.Log(err)
			}
			parent, dir, _, err := extractTo(t, data, DefaultLimits())
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Extract: %v, want ErrUnsafePath", err)
			}
			checkEmptied(t, parent, dir)
		})
	}
}

func TestLinkDepth(t *testing.T) {
	ents := []ent{{name: "l0/", mode: fs.ModeDir | 0o755}}
	for i := 1; i <= 45; i++ { // l45 -> l44 -> ... -> l0
		ents = append(ents, ent{name: "l" + strconv.Itoa(i), body: "l" + strconv.Itoa(i-1), mode: fs.ModeSymlink | 0o777})
	}
	if _, err := Inspect(mkzip(t, ents[:41]...), DefaultLimits()); err != nil {
		t.Errorf("a chain of 40: %v", err)
	}
	if _, err := Inspect(mkzip(t, ents...), DefaultLimits()); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("a chain of 45: %v, want ErrUnsafePath", err)
	}
	slices.Reverse(ents) // resolved first to last: the recursion is deep, not the memo
	if _, err := Inspect(mkzip(t, ents...), DefaultLimits()); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("a chain of 45, reversed: %v, want ErrUnsafePath", err)
	}
}

func dirHeader(name string, size uint64, crc uint32) *zip.FileHeader {
	h := &zip.FileHeader{Name: name, CompressedSize64: size, UncompressedSize64: size, CRC32: crc}
	h.SetMode(fs.ModeDir | 0o755)
	return h
}

func TestInvalid(t *testing.T) {
	good := mkzip(t, ent{name: "a.txt", body: strings.Repeat("hello ", 100)}, ent{name: "b.txt", body: "stored!", store: true})

	crc := bytes.Clone(good)
	i := bytes.Index(crc, []byte("stored!"))
	crc[i] ^= 0xff

	deflate := bytes.Clone(good)
	deflate[30+len("a.txt")+3] ^= 0x55 // inside a.txt's compressed data

	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestSpeed)
	fw.Write([]byte("0123456789"))
	fw.Close()

	for name, data := range map[string][]byte{
		"empty input":      {},
		"random":           []byte(strings.Repeat("not a zip ", 50)),
		"truncated":        good[:len(good)/2],
		"truncated end":    good[:len(good)-1],
		"crc mismatch":     crc,
		"corrupt deflate":  deflate,
		"unsupported (12)": mkraw(t, &zip.FileHeader{Name: "x", Method: 12, CompressedSize64: 3, UncompressedSize64: 3}, []byte("abc")),
		"encrypted":        mkraw(t, &zip.FileHeader{Name: "x", Flags: 1, CompressedSize64: 3, UncompressedSize64: 3, CRC32: crc32.ChecksumIEEE([]byte("abc"))}, []byte("abc")),
		"size lie (small)": mkraw(t, &zip.FileHeader{Name: "x", Method: zip.Deflate, CompressedSize64: uint64(comp.Len()), UncompressedSize64: 5, CRC32: crc32.ChecksumIEEE([]byte("0123456789"))}, comp.Bytes()),
		"size lie (store)": mkraw(t, &zip.FileHeader{Name: "x", CompressedSize64: 3, UncompressedSize64: 4, CRC32: crc32.ChecksumIEEE([]byte("abc"))}, []byte("abc")),
		"dir with data":    mkraw(t, dirHeader("d", 3, crc32.ChecksumIEEE([]byte("abc"))), []byte("abc")),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Inspect(data, DefaultLimits()); !errors.Is(err, ErrInvalidZip) {
				t.Errorf("Inspect: %v, want ErrInvalidZip", err)
			} else {
				t.Log(err)
			}
			parent, dir, _, err := extractTo(t, data, DefaultLimits())
			if !errors.Is(err, ErrInvalidZip) {
				t.Errorf("Extract: %v, want ErrInvalidZip", err)
			}
			checkEmptied(t, parent, dir)
		})
	}
}

// An error in the last file must remove the files already written.
func TestExtractCleansUp(t *testing.T) {
	data := mkzip(t, ent{name: "a/b/c.txt", body: "c"}, ent{name: "l", body: "a", mode: fs.ModeSymlink | 0o777}, ent{name: "z.txt", body: "zzzz", store: true})
	data[bytes.LastIndex(data, []byte("zzzz"))] = 'y'
	parent, dir, _, err := extractTo(t, data, DefaultLimits())
	if !errors.Is(err, ErrInvalidZip) {
		t.Fatalf("Extract: %v, want ErrInvalidZip", err)
	}
	checkEmptied(t, parent, dir)
}

func TestExtractNeedsEmptyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := Extract(mkzip(t, ent{name: "a"}), dir, DefaultLimits()); err == nil {
		t.Fatal("Extract into a non-empty directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err != nil {
		t.Fatal("Extract removed what it did not write")
	}
	if _, err := Extract(mkzip(t, ent{name: "a"}), filepath.Join(dir, "missing"), DefaultLimits()); err == nil {
		t.Fatal("Extract into a missing directory succeeded")
	}
}

func TestLimits(t *testing.T) {
	data := mkzip(t, ent{name: "a", body: strings.Repeat("a", 1000)}, ent{name: "b/c/d", body: "d"})
	for _, tc := range []struct {
		lim  Limits
		want error
	}{
		{Limits{MaxZipped: int64(len(data)) - 1}, ErrZippedTooLarge},
		{Limits{MaxZipped: int64(len(data))}, nil},
		{Limits{MaxUnzipped: 1000}, ErrUnzippedTooLarge},
		{Limits{MaxUnzipped: 1001}, nil},
		{Limits{MaxEntries: 1}, ErrTooManyEntries},
		{Limits{MaxEntries: 3}, ErrTooManyEntries}, // a, b, b/c, b/c/d
		{Limits{MaxEntries: 4}, nil},
	} {
		_, err := Inspect(data, tc.lim)
		if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.lim, err, tc.want)
		} else if err != nil {
			t.Logf("%+v: %v", tc.lim, err)
		}
	}
}

// A central directory of a million tiny records must be rejected before
// archive/zip allocates anything per record.
func TestManyEntriesCheap(t *testing.T) {
	const n = 1_000_000
	rec := make([]byte, 46+1)
	binary.LittleEndian.PutUint32(rec, 0x02014b50)
	binary.LittleEndian.PutUint16(rec[28:], 1) // name length
	rec[46] = 'a'
	data := bytes.Repeat(rec, n)
	end := make([]byte, 22)
	binary.LittleEndian.PutUint32(end, 0x06054b50)
	binary.LittleEndian.PutUint16(end[8:], n&0xffff)
	binary.LittleEndian.PutUint16(end[10:], n&0xffff)
	binary.LittleEndian.PutUint32(end[12:], uint32(len(data)))
	data = append(data, end...)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := Inspect(data, DefaultLimits())
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyEntries) {
		t.Fatalf("Inspect: %v, want ErrTooManyEntries", err)
	}
	t.Logf("rejected %d-byte zip in %v allocating %d bytes: %v", len(data), elapsed, after.TotalAlloc-before.TotalAlloc, err)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("Inspect allocated %d bytes", alloc)
	}
}

// countRecords must agree with archive/zip, including for zips with a prefix (as
// self-extractors have) and zip64 ones (over 65535 entries).
func TestCountRecords(t *testing.T) {
	small := mkzip(t, ent{name: "a"}, ent{name: "b/"}, ent{name: "c", body: "c"})
	var many bytes.Buffer
	w := zip.NewWriter(&many)
	for i := range 70_000 {
		w.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(i), Method: zip.Store})
	}
	w.Close()
	for name, data := range map[string][]byte{
		"small":    small,
		"prefixed": append([]byte("#!/bin/sh\nexec unzip \"$0\"\n"), small...),
		"empty":    mkzip(t),
		"zip64":    many.Bytes(),
	} {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := countRecords(data, 1<<20); !ok || n != len(zr.File) {
			t.Errorf("%s: countRecords = %d, %v; archive/zip read %d", name, n, ok, len(zr.File))
		}
		if _, err := Inspect(data, DefaultLimits()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkEmptied checks that dir is empty and is all there is in parent.
func checkEmptied(t testing.TB, parent, dir string) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil || len(names) != 0 {
		t.Errorf("%s holds %v (%v) after a failed Extract", dir, names, err)
	}
	checkConfined(t, parent, dir)
}

// checkConfined checks that parent holds nothing but dir, and that no link in dir
// is absolute or resolves outside it.
func checkConfined(t testing.TB, parent, dir string) {
	t.Helper()
	if names, _ := os.ReadDir(parent); len(names) != 1 {
		t.Errorf("%s holds %v, want only %s", parent, names, filepath.Base(dir))
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(path)
		if err != nil || filepath.IsAbs(target) {
			t.Errorf("%s -> %q (%v)", path, target, err)
			return nil
		}
		if !inside(dir, filepath.Join(filepath.Dir(path), target)) {
			t.Errorf("%s -> %q leads outside", path, target)
		}
		if resolved, err := filepath.EvalSymlinks(path); err == nil && !inside(realDir, resolved) {
			t.Errorf("%s -> %q resolves outside, to %s", path, target, resolved)
		}
		return nil
	})
}

func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel) || rel == "."
}

func FuzzInspect(f *testing.F) {
	link := func(name, target string) ent { return ent{name: name, body: target, mode: fs.ModeSymlink | 0o777} }
	f.Add(mkzip(f))
	f.Add(mkzip(f, ent{name: "bootstrap", body: "#!/bin/sh", mode: 0o755}, ent{name: "a/b/c", body: "c", store: true}, link("l", "a/b")))
	f.Add(mkzip(f, ent{name: "./x"}, ent{name: "x/"}, ent{name: `a\b`}))
	f.Add(mkzip(f, ent{name: "../evil"}, link("l", "/etc")))
	f.Add(mkzip(f, link("a/b/c/l", "../../.."), link("m", "a/b/c/l/..")))
	f.Add(mkzip(f, link("link", "sub"), ent{name: "link/x"}))
	f.Add(mkzip(f, link("a", "b"), link("b", "a")))
	for _, file := range []string{"zip-r.zip", "python.zip"} {
		if data, err := os.ReadFile(filepath.Join("testdata", file)); err == nil {
			f.Add(data)
		}
	}
	lim := Limits{MaxUnzipped: 1 << 20, MaxEntries: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Inspect(data, lim)
		if err != nil {
			for _, kind := range []error{ErrInvalidZip, ErrZippedTooLarge, ErrUnzippedTooLarge, ErrTooManyEntries, ErrUnsafePath} {
				if errors.Is(err, kind) {
					return
				}
			}
			t.Fatalf("Inspect returned an error of no kind: %v", err)
		}
		parent, dir, xinfo, err := extractTo(t, data, lim)
		if err != nil {
			t.Fatalf("Inspect accepted the zip but Extract failed: %v", err)
		}
		if xinfo != info {
			t.Fatalf("Extract = %+v, Inspect = %+v", xinfo, info)
		}
		checkConfined(t, parent, dir)
	})
}

// BenchmarkInspect1MB inspects a 1 MB zip of mixed source-like text and random
// (incompressible) files, as a typical function package.
func BenchmarkInspect1MB(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	words := strings.Fields("function return const let var if else for while import export default from require module exports async await new this null undefined true false class extends")
	var ents []ent
	for size, i := 0, 0; ; i++ {
		var body []byte
		if i%3 == 2 { // random: a minified or binary asset
			body = make([]byte, 20_000+rng.Intn(40_000))
			rng.Read(body)
		} else { // text: source code, about 4:1
			var sb strings.Builder
			for sb.Len() < 10_000+rng.Intn(60_000) {
				sb.WriteString(words[rng.Intn(len(words))])
				sb.WriteString([]string{" ", " ", "(", ")", ";\n", ".", " = "}[rng.Intn(7)])
				if rng.Intn(5) == 0 {
					sb.WriteString(strconv.Itoa(rng.Intn(100000)))
				}
			}
			body = []byte(sb.String())
		}
		ents = append(ents, ent{name: "node_modules/pkg" + strconv.Itoa(i/10) + "/f" + strconv.Itoa(i) + ".js", body: string(body)})
		if size += len(mkzip(b, ents[len(ents)-1])); size >= 1<<20 {
			break
		}
	}
	data := mkzip(b, ents...)
	info, err := Inspect(data, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("zip %d bytes, %d entries, unzipped %d bytes", len(data), info.Entries, info.UnzippedSize)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect(data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzTree builds zips from fuzzed entry lists, one entry a line: "f name",
// "d name" or "l name target". Mutating zip bytes rarely changes a link's target
// (the CRC covers it), so this is what exercises the path and link checks.
func FuzzTree(f *testing.F) {
	f.Add("f a/b\nl l a\nl m l/b")
	f.Add("d a/b/c\nl a/b/c/l ../../..\nl m a/b/c/l/..")
	f.Add("l a b/x\nl b a/y\nf c")
	f.Add("l up ..\nf ./x\nf x/")
	f.Add("l s .\nl t s/s/s/..\nf s/x")
	f.Fuzz(func(t *testing.T, spec string) {
		var ents []ent
		for _, line := range strings.Split(spec, "\n") {
			kind, rest, _ := strings.Cut(line, " ")
			name, target, _ := strings.Cut(rest, " ")
			if strings.HasSuffix(name, "/") {
				kind = "d" // archive/zip writes no data to a directory
			}
			switch kind {
			case "f":
				ents = append(ents, ent{name: name, body: target, mode: 0o755})
			case "d":
				ents = append(ents, ent{name: name, mode: fs.ModeDir | 0o755})
			case "l":
				ents = append(ents, ent{name: name, body: target, mode: fs.ModeSymlink | 0o777})
			}
		}
		data := mkzip(t, ents...)
		lim := Limits{MaxEntries: 1000}
		if _, err := Inspect(data, lim); err != nil {
			return
		}
		parent, dir, _, err := extractTo(t, data, lim)
		if err != nil {
			t.Fatalf("Inspect accepted the zip but Extract failed: %v", err)
		}
		checkConfined(t, parent, dir)
	})
}

package codezip

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Extract unpacks data into dir, which must exist and be empty, after the same checks
// as Inspect. Regular files get mode 0755 if the zip gives them any executable bit
// (a bootstrap must stay executable) and 0644 otherwise; directories get 0755.
// Parent directories missing from the zip are created, and symbolic links are
// recreated (the checks have proved that their targets stay inside dir).
//
// It never writes outside dir: every file is created relative to its parent
// directory's handle (an os.Root, which also refuses to leave dir), with O_EXCL so
// that an existing name, link or not, is never opened. On error it removes what it
// wrote, leaving dir empty.
func Extract(data []byte, dir string, lim Limits) (info Info, err error) {
	p, err := parse(data, lim.withDefaults())
	if err != nil {
		return Info{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Info{}, fmt.Errorf("codezip: %w", err)
	}
	defer root.Close()
	if err := checkEmpty(root); err != nil {
		return Info{}, err
	}
	defer func() {
		if err != nil {
			removeContents(root) // dir was empty, so all it holds is ours
		}
	}()
	u := getUnzipper()
	defer putUnzipper(u)
	if err := p.extractDir(u, root, p.root); err != nil {
		return Info{}, err
	}
	return p.info(), nil
}

// extractDir creates dir's children in r, which is dir's handle. Each name is a
// single path element, so nothing is looked up through another entry. Links come
// last so that none exists beside a name still to be written.
func (p *pkg) extractDir(u *unzipper, r *os.Root, dir *node) error {
	for _, n := range dir.kids {
		var err error
		switch n.kind {
		case kindDir:
			err = p.extractSubdir(u, r, n)
		case kindFile:
			err = p.extractFile(u, r, n)
		}
		if err != nil {
			return err
		}
	}
	for _, n := range dir.kids {
		if n.kind == kindLink {
			if err := r.Symlink(n.target, n.name); err != nil {
				return fmt.Errorf("codezip: extracting %q: %w", n.entry, err)
			}
		}
	}
	return nil
}

func (p *pkg) extractSubdir(u *unzipper, r *os.Root, n *node) error {
	err := r.Mkdir(n.name, 0o755)
	if err == nil {
		err = r.Chmod(n.name, 0o755) // whatever the umask
	}
	if err != nil {
		return fmt.Errorf("codezip: creating directory %q: %w", n.name, err)
	}
	sub, err := r.OpenRoot(n.name)
	if err != nil {
		return fmt.Errorf("codezip: opening directory %q: %w", n.name, err)
	}
	defer sub.Close()
	return p.extractDir(u, sub, n)
}

func (p *pkg) extractFile(u *unzipper, r *os.Root, n *node) error {
	// O_EXCL fails on any existing name, including a dangling link, and
	// os.Root adds O_NOFOLLOW besides.
	f, err := r.OpenFile(n.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, n.mode)
	if err != nil {
		return fmt.Errorf("codezip: extracting %q: %w", n.entry, err)
	}
	err = f.Chmod(n.mode) // whatever the umask
	if err == nil {
		err = p.copyFile(u, n, f)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("codezip: extracting %q: %w", n.entry, cerr)
	}
	return err
}

func checkEmpty(r *os.Root) error {
	f, err := r.Open(".")
	if err != nil {
		return fmt.Errorf("codezip: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("codezip: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("codezip: extract directory %s is not empty", r.Name())
	}
	return nil
}

// removeContents empties r. RemoveAll removes links, never what they point to.
func removeContents(r *os.Root) {
	f, err := r.Open(".")
	if err != nil {
		return
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, name := range names {
		r.RemoveAll(name)
	}
}

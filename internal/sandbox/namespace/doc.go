// Package namespace is the sandbox driver built from Linux primitives: each sandbox
// is a set of fresh namespaces (user, PID, network, IPC, UTS, mount, cgroup) whose
// PID 1 is Spec.Init, confined by cgroups (memory without swap, CPU quota, pids,
// freezer), its init running as the sandbox's root with only CAP_SETUID, CAP_SETGID
// and CAP_KILL and the function as Spec.UID with no capabilities, both under
// no_new_privs and a seccomp deny list. The user namespace maps root to root (the
// setup process binds code from a data directory only root may enter, and has
// capabilities over its own namespaces only) and every other ID to a range far from
// the host's users, so the function's uid 993 is host uid idBase+993. A host that
// refuses user namespaces gets the others; Config.Logger hears of it once, and
// Driver.UserNamespaces reports it.
//
// Go cannot run code between clone and exec, so the driver re-executes Config.Exe
// with SetupArg; that binary calls SetupMain, which builds the sandbox's root from
// inside the new namespaces and then execs the init. To keep process start-up off
// Start's path, the driver keeps a few such setup processes started ahead
// (Config.Warm), each already in a cgroup of its own ("warm-…", renamed to the
// sandbox's ID when used, where the cgroup version allows renaming: v1), and with
// the part of the root every sandbox shares (the host's base directories, /proc,
// /dev) already mounted in its own mount namespace; Start's config adds /var/task,
// /var/runtime and /tmp, and the process pivots and execs.
//
// cgroup v1 (per-controller hierarchies, hybrid hosts included) and v2 (unified)
// are both supported; a sandbox's cgroup is <CgroupParent>/<Spec.ID> in every
// hierarchy, except for a warm process on v2, which keeps its slot name.
//
// Lifecycle of a sandbox:
//
//	Start ──▶ running ──Freeze──▶ frozen ──Thaw──▶ running
//	             │                   │
//	             ├── init exits ─────┼──▶ exited (Done closed; Err: nil, exit status, ErrOOM)
//	             └──────── Kill ─────┴──▶ released (cgroups removed, stream closed)
package namespace

// Runs go-fuse's POSIX conformance tests (posixtest.All) against a file system that is already
// mounted. hack/build-tools.sh builds this into the test binary hack/bin/fuse-posixtest:
//
//	fuse-posixtest -mount /mnt/point [-test.v] [-test.run 'POSIX/^(FileBasic|Link)$']
//
// (or FUSE_POSIXTEST_DIR=/mnt/point instead of -mount). Each test runs alone in a fresh
// directory <mount>/<name>, removed afterwards (best effort), so the tests do not collide.
package posixtest_runner

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

var mount = flag.String("mount", os.Getenv("FUSE_POSIXTEST_DIR"),
	"directory of the mounted file system to test (default $FUSE_POSIXTEST_DIR)")

func TestMain(m *testing.M) {
	flag.Parse()
	if *mount == "" {
		fmt.Fprintln(os.Stderr, "fuse-posixtest: give the mounted directory to test: -mount DIR or FUSE_POSIXTEST_DIR=DIR")
		os.Exit(2)
	}
	if st, err := os.Stat(*mount); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "fuse-posixtest: %s is not a directory (%v)\n", *mount, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func TestPOSIX(t *testing.T) {
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fn := posixtest.All[name]
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(*mount, name)
			_ = os.RemoveAll(dir) // what an interrupted run left
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatalf("creating the test directory: %v", err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			fn(t, dir)
		})
	}
}

// Wrapper module: pins go-fuse for the Kmesh test tooling (built by hack/build-tools.sh): its loopback
// example, and its POSIX tests, which posixtest_test.go runs against a mounted file system.
module kmesh.io/hack/tools/go-fuse

go 1.24.0

tool github.com/hanwen/go-fuse/v2/example/loopback

require github.com/hanwen/go-fuse/v2 v2.12.1

require golang.org/x/sys v0.28.0 // indirect

//go:build unix

package ortx

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on the file at path (created
// if missing), waiting for it; the returned function releases it. The
// lock is per open file, so goroutines of one process exclude each other
// too, and it goes with the process that holds it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

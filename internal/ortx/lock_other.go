//go:build !unix

package ortx

import "sync"

// lockMu stands in for file locks where there are none: writers of one
// process exclude each other, other processes are not excluded.
var lockMu sync.Mutex

func lockFile(string) (func(), error) {
	lockMu.Lock()
	return lockMu.Unlock, nil
}

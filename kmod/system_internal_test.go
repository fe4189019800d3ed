package kmod

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRetryEINTR: an interrupted wait for a concurrent load is called again; any other
// result, success or error, is returned as it is.
func TestRetryEINTR(t *testing.T) {
	for _, tc := range []struct {
		results []error
		want    error
	}{
		{[]error{unix.EINTR, unix.EINTR, nil}, nil},
		{[]error{unix.EINTR, unix.EEXIST}, unix.EEXIST},
		{[]error{unix.ENOEXEC}, unix.ENOEXEC},
	} {
		calls := 0
		err := retryEINTR(func() error { calls++; return tc.results[calls-1] })
		if !errors.Is(err, tc.want) || err != tc.want || calls != len(tc.results) {
			t.Errorf("%v: got %v after %d calls, want %v after %d", tc.results, err, calls, tc.want, len(tc.results))
		}
	}
}

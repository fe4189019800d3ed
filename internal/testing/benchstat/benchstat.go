// Package benchstat holds what gokmod's bench programs share: medians and millisecond
// formatting of repeated timings.
package benchstat

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Median of the durations (the upper one for an even count).
func Median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MSList formats every timing in milliseconds, e.g. "[12 13 12]".
func MSList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.0f", MS(d))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

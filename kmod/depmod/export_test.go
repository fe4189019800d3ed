package depmod

import "time"

// SetCacheHook makes every Run report what it did with the cache to f (nil: stop).
func SetCacheHook(f func(CacheStats)) { cacheHook = f }

// SetRacyWindow changes how recent a change makes a record racy, and returns a function
// that restores it.
func SetRacyWindow(d time.Duration) (restore func()) {
	old := racyWindow
	racyWindow = d
	return func() { racyWindow = old }
}

// SetWaitForListings makes the search wait for the cache's directory listings instead of
// reading the directories it meets before they are ready, so that tests can count
// exactly which directories were read; it returns a function that restores it.
func SetWaitForListings(wait bool) (restore func()) {
	old := waitForListings
	waitForListings = wait
	return func() { waitForListings = old }
}

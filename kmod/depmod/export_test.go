package depmod

// SetCacheHook makes every Run report what it did with the cache to f (nil: stop).
func SetCacheHook(f func(CacheStats)) { cacheHook = f }

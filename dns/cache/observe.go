package cache

// Op is a change to the cache, as an Observer sees it.
type Op uint8

// Cache changes.
const (
	OpSet    Op = iota // an entry stored (or replaced)
	OpExpire           // removed by Sweep: past expiry and the stale window
	OpEvict            // removed to respect the entry or byte bound
	OpFlush            // removed through Delete, DeleteName or Flush (Flush: the zero Key)
)

var opNames = [...]string{"set", "expire", "evict", "flush"}

func (o Op) String() string { return opNames[o] }

// Observer is told of every change: the entry's key and, on set, the TTL
// it was stored with (seconds). It is called with a shard lock held: it
// must be quick and must not call the cache.
type Observer func(op Op, k Key, ttl uint32)

// SetObserver installs o (nil removes it). With none, a change costs one
// atomic load.
func (c *Cache) SetObserver(o Observer) {
	if o == nil {
		c.observer.Store(nil)
		return
	}
	c.observer.Store(&o)
}

func (c *Cache) notify(op Op, k Key, ttl uint32) {
	if o := c.observer.Load(); o != nil {
		(*o)(op, k, ttl)
	}
}

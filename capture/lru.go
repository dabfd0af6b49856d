package capture

import "hash/maphash"

// lru is a hash table whose entries live in chunks of a slice and sit on
// one of a few lists ordered by last use, so that the oldest entry of a
// list is found at once: for verdicts after a timeout, and for eviction
// when the table is full.
//
// It is built for a hundred thousand entries in little memory: entries are
// reused, so a long capture allocates nothing once the table has grown to
// its working size; it grows by chunks rather than by doubling one slice,
// so a full table never briefly needs twice its size; and its index is a
// bucket array of int32 chained through the entries, where a Go map would
// keep a second copy of every key.
type lru[K comparable, V any] struct {
	seed    maphash.Seed
	buckets []int32 // first entry of each bucket's chain; len is a power of two
	chunks  [][]slot[K, V]
	n       int32 // entries handed out, live or free
	count   int
	free    []int32
	lists   []list
}

type slot[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32 // on the entry's list
	chain      int32 // the next entry in the bucket
	list       int8  // -1 while free
}

type list struct{ head, tail int32 }

const (
	none      int32 = -1
	chunkBits       = 12
	chunkSize       = 1 << chunkBits
)

func newLRU[K comparable, V any](lists int) *lru[K, V] {
	t := &lru[K, V]{seed: maphash.MakeSeed(), lists: make([]list, lists)}
	for i := range t.lists {
		t.lists[i] = list{head: none, tail: none}
	}
	t.buckets = newBuckets(1024)
	return t
}

func newBuckets(n int) []int32 {
	b := make([]int32, n)
	for i := range b {
		b[i] = none
	}
	return b
}

func (t *lru[K, V]) slot(i int32) *slot[K, V] {
	return &t.chunks[i>>chunkBits][i&(chunkSize-1)]
}

func (t *lru[K, V]) bucket(k K) *int32 {
	return &t.buckets[maphash.Comparable(t.seed, k)&uint64(len(t.buckets)-1)]
}

func (t *lru[K, V]) len() int { return t.count }

// get returns the entry for k, or none.
func (t *lru[K, V]) get(k K) int32 {
	if t.count == 0 {
		return none
	}
	for i := *t.bucket(k); i != none; i = t.slot(i).chain {
		if t.slot(i).key == k {
			return i
		}
	}
	return none
}

func (t *lru[K, V]) val(i int32) *V     { return &t.slot(i).val }
func (t *lru[K, V]) key(i int32) K      { return t.slot(i).key }
func (t *lru[K, V]) listOf(i int32) int { return int(t.slot(i).list) }

// insert adds k, which must not be in the table, with a zero value at the
// tail of list l.
func (t *lru[K, V]) insert(k K, l int) int32 {
	if t.count >= len(t.buckets) {
		t.rehash(2 * len(t.buckets))
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if int(t.n)>>chunkBits == len(t.chunks) {
			t.chunks = append(t.chunks, make([]slot[K, V], chunkSize))
		}
		i = t.n
		t.n++
	}
	s := t.slot(i)
	var zero V
	s.key, s.val = k, zero
	b := t.bucket(k)
	s.chain, *b = *b, i
	t.count++
	t.link(i, l)
	return i
}

// rehash spreads the entries over n buckets.
func (t *lru[K, V]) rehash(n int) {
	t.buckets = newBuckets(n)
	for i := range t.n {
		if s := t.slot(i); s.list >= 0 {
			b := t.bucket(s.key)
			s.chain, *b = *b, i
		}
	}
}

// touch moves entry i to the tail of list l.
func (t *lru[K, V]) touch(i int32, l int) {
	t.unlink(i)
	t.link(i, l)
}

// remove deletes entry i.
func (t *lru[K, V]) remove(i int32) {
	t.unlink(i)
	s := t.slot(i)
	for p := t.bucket(s.key); *p != none; p = &t.slot(*p).chain {
		if *p == i {
			*p = s.chain
			break
		}
	}
	var zero K
	s.key, s.list, s.chain = zero, -1, none
	t.free = append(t.free, i)
	t.count--
}

// oldest returns the head of list l, or none.
func (t *lru[K, V]) oldest(l int) int32 { return t.lists[l].head }

func (t *lru[K, V]) link(i int32, l int) {
	s := t.slot(i)
	ls := &t.lists[l]
	s.list = int8(l)
	s.prev, s.next = ls.tail, none
	if ls.tail != none {
		t.slot(ls.tail).next = i
	} else {
		ls.head = i
	}
	ls.tail = i
}

func (t *lru[K, V]) unlink(i int32) {
	s := t.slot(i)
	ls := &t.lists[s.list]
	if s.prev != none {
		t.slot(s.prev).next = s.next
	} else {
		ls.head = s.next
	}
	if s.next != none {
		t.slot(s.next).prev = s.prev
	} else {
		ls.tail = s.prev
	}
	s.prev, s.next = none, none
}

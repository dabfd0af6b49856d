package capture

import (
	"math/rand/v2"
	"testing"
)

// The table against a map and a slice that keep the same entries and
// orders, through random inserts, touches and removals that make it grow
// and reuse entries.
func TestLRU(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tab := newLRU[int, int](2)
	want := map[int]int{} // key → value
	order := [2][]int{}   // keys by list, oldest first
	drop := func(l, k int) {
		for j, x := range order[l] {
			if x == k {
				order[l] = append(order[l][:j], order[l][j+1:]...)
				return
			}
		}
	}
	listOf := func(k int) int {
		for l := range order {
			for _, x := range order[l] {
				if x == k {
					return l
				}
			}
		}
		return -1
	}
	for step := range 20000 {
		k := rng.IntN(3000)
		i := tab.get(k)
		_, present := want[k]
		if (i != none) != present {
			t.Fatalf("step %d: get(%d) = %d, present %v", step, k, i, present)
		}
		switch {
		case !present:
			l := rng.IntN(2)
			i = tab.insert(k, l)
			*tab.val(i) = k * 7
			want[k] = k * 7
			order[l] = append(order[l], k)
		case rng.IntN(3) == 0:
			if *tab.val(i) != want[k] || tab.key(i) != k {
				t.Fatalf("step %d: entry %d holds %d=%d, want %d=%d", step, i, tab.key(i), *tab.val(i), k, want[k])
			}
			tab.remove(i)
			drop(listOf(k), k)
			delete(want, k)
		default:
			l := rng.IntN(2)
			drop(listOf(k), k)
			tab.touch(i, l)
			order[l] = append(order[l], k)
		}
		if tab.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(want))
		}
		for l := range order {
			if head := tab.oldest(l); len(order[l]) == 0 && head != none || len(order[l]) > 0 && tab.key(head) != order[l][0] {
				t.Fatalf("step %d: oldest of list %d is entry %d, want key %v", step, l, head, order[l])
			}
		}
	}
	if int(tab.n) > 3000 {
		t.Errorf("%d entries handed out for at most 3000 keys", tab.n)
	}
}

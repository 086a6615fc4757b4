package vault

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
)

func TestDecodeCache(t *testing.T) {
	c := newDecodeCache[int]()
	calls := 0
	atoi := func(b []byte) (int, error) {
		calls++
		return strconv.Atoi(string(b))
	}
	for range 3 {
		if v, err := c.decode([]byte("42"), atoi); err != nil || v != 42 {
			t.Fatalf("decode 42 = %d, %v", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("the same bytes were decoded %d times, want once", calls)
	}
	// Other bytes are decoded anew: a changed record is never served stale.
	if v, err := c.decode([]byte("43"), atoi); err != nil || v != 43 {
		t.Fatalf("decode 43 = %d, %v", v, err)
	}
	// The caller's buffer may be reused: the cache keeps its own copy.
	buf := []byte("7")
	if v, _ := c.decode(buf, atoi); v != 7 {
		t.Fatalf("decode 7 = %d", v)
	}
	buf[0] = '8'
	if v, _ := c.decode(buf, atoi); v != 8 {
		t.Fatalf("after the buffer changed to 8, decode = %d", v)
	}
	// Errors are returned, not cached.
	calls = 0
	for range 2 {
		if _, err := c.decode([]byte("x"), atoi); err == nil {
			t.Fatal("decode x: no error")
		}
	}
	if calls != 2 {
		t.Errorf("a failing decode ran %d times for two calls, want 2 (errors not cached)", calls)
	}
	// Bounded.
	for i := range boundedShards * decodeCacheShardMax * 2 {
		if _, err := c.decode([]byte(fmt.Sprint(i)), atoi); err != nil {
			t.Fatal(err)
		}
	}
	if n, max := c.records.len(), boundedShards*decodeCacheShardMax; n > max {
		t.Errorf("cache holds %d entries, bound is %d", n, max)
	}
	// A nil cache decodes every time.
	var none *decodeCache[int]
	if _, err := none.decode([]byte("x"), atoi); !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf("nil cache: err = %v", err)
	}
}

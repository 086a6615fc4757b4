package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomString draws from an alphabet of plain characters and of the
// characters JSON escapes, so that both paths of the encoders run.
func randomString(r *rand.Rand) string {
	const alphabet = "abcXYZ019._-/:=+ ~\"\\<>&\x00\x1f\x7f"
	extra := []string{"é", "\u2028", "\xff", "😀"}
	n := r.IntN(12)
	var b []byte
	for range n {
		if r.IntN(20) == 0 {
			b = append(b, extra[r.IntN(len(extra))]...)
			continue
		}
		b = append(b, alphabet[r.IntN(len(alphabet))])
	}
	return string(b)
}

// plainString draws plain strings only.
func plainString(r *rand.Rand) string {
	const alphabet = "abcdefXYZ0123456789._-/:=+ ~"
	b := make([]byte, r.IntN(48))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// randomEntry draws an entry whose strings come from str; its time is
// within years 1970 to 4000 when wide is false, else within -1200 to 8300.
func randomEntry(r *rand.Rand, str func(*rand.Rand) string, wide bool) Entry {
	secs := r.Int64N(64e9)
	if wide {
		secs = r.Int64N(300e9) - 100e9
	}
	e := Entry{
		Seq:     r.Uint64() >> r.IntN(64),
		Time:    time.Unix(secs, r.Int64N(1e9)*int64(r.IntN(2))).UTC(),
		Caller:  str(r),
		Role:    str(r),
		Method:  str(r),
		Outcome: str(r),
		Prev:    str(r),
	}
	if r.IntN(2) == 0 {
		e.Consent = str(r)
	}
	switch r.IntN(3) {
	case 0:
		e.Paths = []string{}
	case 1:
		for range 1 + r.IntN(4) {
			e.Paths = append(e.Paths, str(r))
		}
	}
	return e
}

// TestCanonicalFastPath: Canonical's bytes are encoding/json's, whichever
// path makes them, and the usual entry takes the direct one.
func TestCanonicalFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	direct := 0
	for i := range 20000 {
		str := randomString
		if i%2 == 0 {
			str = plainString
		}
		e := randomEntry(r, str, i%2 == 1)
		want, wantErr := json.Marshal(e)
		got, err := e.Canonical()
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("entry %+v:\nCanonical    %s (%v)\njson.Marshal %s (%v)", e, got, err, want, wantErr)
		}
		if _, ok := appendCanonical(nil, e); ok {
			direct++
		}
	}
	if direct < 10000 {
		t.Errorf("%d of 20000 entries encoded directly, want at least the 10000 plain ones", direct)
	}
	read := Entry{Seq: 42, Time: time.Date(2026, 11, 25, 6, 0, 0, 123456000, time.UTC),
		Caller: "Hk3pYw1qX3z0oN8m2d8eY7bQ5y0Jm6wYfH2sKqJ1Z0A", Role: RoleBrand,
		Method: "/vrm.v1.BrandService/ReadProfile", Consent: "c1", Paths: []string{"name.given", "email.home"},
		Outcome: OutcomeOK, Prev: Hash([]byte("x"))}
	if _, ok := appendCanonical(nil, read); !ok {
		t.Errorf("a brand read's entry is not encoded directly: %+v", read)
	}
	for _, y := range []int{-1, 10000} {
		e := read
		e.Time = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := e.Canonical(); err == nil {
			t.Errorf("year %d: Canonical = nil error, want encoding/json's refusal", y)
		}
	}
}

// TestHeadEncoding: EncodeHead writes json.Marshal's bytes, and ParseHead
// reads them back, and any other JSON form as json.Unmarshal does.
func TestHeadEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 5000 {
		h := Head{Seq: r.Uint64() >> r.IntN(64), Hash: randomString(r)}
		if i%2 == 0 {
			h.Hash = plainString(r)
		}
		if i == 0 {
			h = Head{Seq: math.MaxUint64}
		}
		want, _ := json.Marshal(h)
		got, err := EncodeHead(h)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("EncodeHead(%+v) = %s, %v; want %s", h, got, err, want)
		}
		if back, err := ParseHead(got); plain(h.Hash) && (err != nil || back != h) {
			t.Fatalf("ParseHead(%s) = %+v, %v; want %+v", got, back, err, h)
		}
		checkParseHead(t, got)
	}
	for _, in := range []string{
		`{"seq":1,"hash":"a"}`, `{"hash":"a","seq":1}`, `{ "seq": 1, "hash": "a" }`, `{"seq":1,"hash":"a","x":2}`,
		`{"seq":01,"hash":"a"}`, `{"seq":-1,"hash":"a"}`, `{"seq":1.5,"hash":"a"}`, `{"seq":18446744073709551616,"hash":"a"}`,
		`{"seq":1,"hash":"a"} `, `{"seq":1,"hash":"a"}}`, `{"seq":1,"hash":"a\"b"}`, `{"seq":1,"hash":"\u0041"}`,
		`{"seq":1,"hash":"a`, `{"seq":,"hash":"a"}`, `{"seq":1}`, `{}`, `null`, ``, `[]`,
	} {
		checkParseHead(t, []byte(in))
	}
}

// checkParseHead fails t unless ParseHead agrees with json.Unmarshal on b.
func checkParseHead(t *testing.T, b []byte) {
	t.Helper()
	var want Head
	wantErr := json.Unmarshal(b, &want)
	got, err := ParseHead(b)
	if (err != nil) != (wantErr != nil) || (err == nil && !reflect.DeepEqual(got, want)) {
		t.Fatalf("ParseHead(%q) = %+v, %v; json.Unmarshal gives %+v, %v", b, got, err, want, wantErr)
	}
}

// FuzzParseHead: on any input, ParseHead agrees with json.Unmarshal.
func FuzzParseHead(f *testing.F) {
	f.Add([]byte(`{"seq":12,"hash":"abc"}`))
	f.Add([]byte(`{"seq":0,"hash":""}`))
	f.Add([]byte(`{"seq":1,"hash":"a","seq":2}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkParseHead(t, b) })
}

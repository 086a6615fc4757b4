package consent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func segs(n int, last string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("s%d", i)
	}
	if last != "" {
		parts[n-1] = last
	}
	return strings.Join(parts, ".")
}

func TestParseScope(t *testing.T) {
	seg64, seg65 := strings.Repeat("a", 64), strings.Repeat("a", 65)
	tests := []struct {
		in   string
		want Scope
		rule string // substring of the error; "" = valid
	}{
		{in: "read:name.given", want: Scope{ActionRead, "name.given", false}},
		{in: "watch:address.shipping.*", want: Scope{ActionWatch, "address.shipping", true}},
		{in: "read:prefs.contact.*", want: Scope{ActionRead, "prefs.contact", true}},
		{in: "write:brands.x.*", want: Scope{ActionWrite, "brands.x", true}},
		{in: "read:birthdate", want: Scope{ActionRead, "birthdate", false}},
		{in: "read:a-b_C9.Z", want: Scope{ActionRead, "a-b_C9.Z", false}},
		{in: "read:" + seg64, want: Scope{ActionRead, seg64, false}},
		{in: "read:" + segs(16, ""), want: Scope{ActionRead, segs(16, ""), false}},
		{in: "read:" + segs(16, "*"), want: Scope{ActionRead, segs(15, ""), true}},
		{in: "watch:" + strings.TrimSuffix(strings.Repeat(seg64+".", 16), "."), want: Scope{ActionWatch, strings.TrimSuffix(strings.Repeat(seg64+".", 16), "."), false}},

		{in: "", rule: `"action:path"`},
		{in: "read", rule: `"action:path"`},
		{in: "read:", rule: "empty path"},
		{in: "delete:name", rule: "unknown action"},
		{in: "READ:name", rule: "unknown action"},
		{in: ":name", rule: "unknown action"},
		{in: "read:" + seg65, rule: "segment 1 must be 1 to 64"},
		{in: "read:a." + seg65, rule: "segment 2"},
		{in: "read:" + segs(17, ""), rule: "more than 16 path segments"},
		{in: "read:" + segs(17, "*"), rule: "more than 16 path segments"},
		{in: "read:*", rule: "needs at least one segment before it"},
		{in: "read:a.*.b", rule: "only as the last segment"},
		{in: "read:a.*.*", rule: "only as the last segment"},
		{in: "read:a*", rule: "segment 1"},
		{in: "read:a.b*", rule: "segment 2"},
		{in: "read:name..given", rule: "segment 2"},
		{in: "read:.name", rule: "segment 1"},
		{in: "read:name.", rule: "segment 2"},
		{in: "read:na me", rule: "segment 1"},
		{in: " read:name", rule: "unknown action"},
		{in: "read:name ", rule: "segment 1"},
		{in: "read :name", rule: "unknown action"},
		{in: "read:name\n", rule: "segment 1"},
		{in: "read:näme", rule: "segment 1"},
		{in: "read:名前", rule: "segment 1"},
		{in: "read:a:b", rule: "segment 1"},
		{in: "read:a/b", rule: "segment 1"},
		{in: "read:a\x00", rule: "segment 1"},
		{in: "read:" + strings.Repeat("a.", 600), rule: "longer than 1045 bytes"},
		{in: strings.Repeat("x", 1<<20), rule: "longer than"},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("ParseScope(%q): %v", tc.in, err)
				}
				if got != tc.want {
					t.Fatalf("ParseScope(%q) = %+v, want %+v", tc.in, got, tc.want)
				}
				if got.String() != tc.in {
					t.Fatalf("String() = %q, want %q", got.String(), tc.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("ParseScope(%q) = %+v, %v; want ErrInvalidScope", tc.in, got, err)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("error %q does not name the rule %q", err, tc.rule)
			}
			if len(tc.in) < 60 && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
				t.Fatalf("error %q does not name the scope", err)
			}
		})
	}
	if MaxScopeLen != 1045 {
		t.Errorf("MaxScopeLen = %d, want 1045", MaxScopeLen)
	}
}

func TestParseScopes(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("read:f%d", i)
		}
		return out
	}
	long := func(n int) []string { // n scopes of 1000 bytes each
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("read:f%03d", i) + strings.Repeat("a", 31) + strings.Repeat("."+strings.Repeat("c", 63), 15)
		}
		return out
	}
	tests := []struct {
		name string
		in   []string
		rule string
	}{
		{name: "empty", in: nil},
		{name: "one", in: []string{"read:name.given"}},
		{name: "64", in: many(64)},
		{name: "65", in: many(65), rule: "more than 64 scopes"},
		{name: "8 KiB", in: long(8)},
		{name: "over 8 KiB", in: long(9), rule: "longer than 8192 bytes together"},
		{name: "duplicate", in: []string{"read:a", "read:b", "read:a"}, rule: `"read:a": listed twice`},
		{name: "one bad", in: []string{"read:a", "read:*"}, rule: `"read:*"`},
		{name: "overlap is no duplicate", in: []string{"read:a.*", "read:a.b", "watch:a.*"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScopes(tc.in)
			if tc.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.in) {
					t.Fatalf("got %d scopes, want %d", len(got), len(tc.in))
				}
				for i, s := range FormatScopes(got) {
					if s != tc.in[i] {
						t.Fatalf("FormatScopes[%d] = %q, want %q", i, s, tc.in[i])
					}
				}
				return
			}
			if !errors.Is(err, ErrInvalidScope) || !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("ParseScopes = %v, want ErrInvalidScope naming %q", err, tc.rule)
			}
		})
	}
}

func mustScope(t testing.TB, s string) Scope {
	t.Helper()
	sc, err := ParseScope(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestCovers(t *testing.T) {
	tests := []struct {
		scope string
		path  string
		want  bool
	}{
		{"read:name.given", "name.given", true},
		{"read:name.given", "name", false},
		{"read:name.given", "name.given.x", false},
		{"read:name.given", "name.givenx", false},
		{"read:name.*", "name.given", true},
		{"read:name.*", "name.a.b", true},
		{"read:name.*", "name", false},
		{"read:name.*", "namex.y", false},
		{"read:name.*", "namex", false},
		{"read:name.*", "name.", false},
		{"read:name.*", "name..x", false},
		{"read:name.*", "name.*", false},
		{"read:name.*", "other.name.given", false},
		{"read:a.b.*", "a.b.c", true},
		{"read:a.b.*", "a.c.b", false},
		{"read:name", "", false},
		{"read:" + segs(15, "") + ".*", segs(16, ""), true},
		{"read:" + segs(15, "") + ".*", segs(16, "") + ".x", false}, // 17 segments: no field path
	}
	for _, tc := range tests {
		if got := mustScope(t, tc.scope).Covers(tc.path); got != tc.want {
			t.Errorf("%s covers %q = %v, want %v", tc.scope, tc.path, got, tc.want)
		}
	}
}

func TestAllows(t *testing.T) {
	tests := []struct {
		scope  string
		action Action
		path   string
		want   bool
	}{
		{"read:name.given", ActionRead, "name.given", true},
		{"read:name.given", ActionWatch, "name.given", false},
		{"read:name.given", ActionWrite, "name.given", false},
		{"watch:name.given", ActionRead, "name.given", true},
		{"watch:name.given", ActionWatch, "name.given", true},
		{"watch:name.given", ActionWrite, "name.given", false},
		{"write:brands.x.*", ActionWrite, "brands.x.orders", true},
		{"write:brands.x.*", ActionRead, "brands.x.orders", false},
		{"write:brands.x.*", ActionWatch, "brands.x.orders", false},
		{"watch:address.*", ActionRead, "address.home.street", true},
		{"watch:address.*", ActionRead, "address", false},
		{"read:name.given", "delete", "name.given", false},
		{"read:name.given", "", "name.given", false},
	}
	for _, tc := range tests {
		if got := mustScope(t, tc.scope).Allows(tc.action, tc.path); got != tc.want {
			t.Errorf("%s allows %s %q = %v, want %v", tc.scope, tc.action, tc.path, got, tc.want)
		}
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		s, o string
		want bool
	}{
		{"read:name.given", "read:name.given", true},
		{"read:name.given", "read:name.family", false},
		{"read:name.given", "read:name.given.x", false},
		{"read:name.given", "read:name.given.*", false},
		{"read:name.given", "watch:name.given", false},
		{"watch:name.given", "read:name.given", true},
		{"watch:name.given", "watch:name.given", true},
		{"read:name.*", "read:name.given", true},
		{"read:name.*", "read:name.a.b", true},
		{"read:name.*", "read:name.*", true},
		{"read:name.*", "read:name.a.*", true},
		{"read:name.*", "read:name", false},
		{"read:name.*", "read:namex.y", false},
		{"read:name.*", "read:namex.*", false},
		{"read:name.a.*", "read:name.*", false},
		{"read:name.*", "watch:name.given", false},
		{"watch:name.*", "read:name.given", true},
		{"watch:name.*", "read:name.*", true},
		{"watch:name.*", "watch:name.x.*", true},
		{"watch:name.*", "write:name.x", false},
		{"write:brands.x.*", "write:brands.x.orders", true},
		{"write:brands.x.*", "read:brands.x.orders", false},
		{"write:brands.x.orders", "write:brands.x.*", false},
		{"read:email.home", "read:email.*", false},
	}
	for _, tc := range tests {
		if got := mustScope(t, tc.s).Contains(mustScope(t, tc.o)); got != tc.want {
			t.Errorf("%s contains %s = %v, want %v", tc.s, tc.o, got, tc.want)
		}
	}
}

func TestCheckBrandScopes(t *testing.T) {
	k := testKeys(t)
	jkt, other := k.brand.Thumbprint(), k.a.Thumbprint()
	tests := []struct {
		name   string
		scopes []string
		jkt    string
		rule   string
	}{
		{name: "own namespace", scopes: []string{"write:brands." + jkt + ".*"}, jkt: jkt},
		{name: "below own namespace", scopes: []string{"write:brands." + jkt + ".orders.*", "write:brands." + jkt + ".loyalty.tier"}, jkt: jkt},
		{name: "read anywhere", scopes: []string{"read:name.*", "watch:address.*", "read:brands." + other + ".x"}, jkt: jkt},
		{name: "other brand's namespace", scopes: []string{"write:brands." + other + ".*"}, jkt: jkt, rule: "may write only under brands." + jkt + ".*"},
		{name: "outside brands", scopes: []string{"read:name.*", "write:name.given"}, jkt: jkt, rule: `"write:name.given"`},
		{name: "all brands", scopes: []string{"write:brands.*"}, jkt: jkt, rule: "may write only under"},
		{name: "namespace root itself", scopes: []string{"write:brands." + jkt}, jkt: jkt, rule: "may write only under"},
		{name: "prefix of jkt", scopes: []string{"write:brands." + jkt[:42] + ".*"}, jkt: jkt, rule: "may write only under"},
		{name: "jkt as prefix", scopes: []string{"write:brands." + jkt + "x.*"}, jkt: jkt, rule: "may write only under"},
		{name: "not a thumbprint", scopes: []string{"read:name"}, jkt: "x", rule: "not a key thumbprint"},
		{name: "empty thumbprint", scopes: []string{"write:brands..*"}, jkt: "", rule: "not a key thumbprint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var scopes []Scope
			for _, s := range tc.scopes {
				sc, err := ParseScope(s)
				if err != nil {
					// "write:brands..*" does not parse; hand it in as built.
					sc = Scope{Action: ActionWrite, Path: "brands.", Wildcard: true}
				}
				scopes = append(scopes, sc)
			}
			err := CheckBrandScopes(scopes, tc.jkt)
			if tc.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidScope) || !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("CheckBrandScopes = %v, want ErrInvalidScope naming %q", err, tc.rule)
			}
		})
	}
}

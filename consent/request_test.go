package consent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAccessRequestValidate(t *testing.T) {
	k := testKeys(t)
	jkt := k.brand.Thumbprint()
	valid := func() AccessRequest {
		return AccessRequest{
			BrandName: "Acme Outdoor",
			BrandURL:  "https://acme.example/privacy",
			Scopes:    []Scope{mustScope(t, "read:name.given"), mustScope(t, "write:brands."+jkt+".*")},
			Purposes:  []string{"ServiceProvision", "Marketing"},
			Duration:  30 * 24 * time.Hour,
			Reason:    "To ship your orders and tell you about sales.",
		}
	}
	scopes := func(n int) []Scope {
		out := make([]Scope, n)
		for i := range out {
			out[i] = Scope{Action: ActionRead, Path: fmt.Sprintf("f%d", i)}
		}
		return out
	}
	tests := []struct {
		name   string
		mutate func(*AccessRequest)
		jkt    string
		rule   string // substring of the error; "" = valid
	}{
		{name: "valid", mutate: func(*AccessRequest) {}},
		{name: "name 128 characters", mutate: func(r *AccessRequest) { r.BrandName = strings.Repeat("é", 128) }},
		{name: "name 129 characters", mutate: func(r *AccessRequest) { r.BrandName = strings.Repeat("é", 129) }, rule: "brand name is longer than 128 characters"},
		{name: "name empty", mutate: func(r *AccessRequest) { r.BrandName = "" }, rule: "brand name is empty"},
		{name: "name blank", mutate: func(r *AccessRequest) { r.BrandName = "   " }, rule: "leading or trailing space"},
		{name: "name trailing space", mutate: func(r *AccessRequest) { r.BrandName = "Acme " }, rule: "leading or trailing space"},
		{name: "name control char", mutate: func(r *AccessRequest) { r.BrandName = "Acme\x07" }, rule: "control or format character U+0007"},
		{name: "name newline", mutate: func(r *AccessRequest) { r.BrandName = "Acme\nBank" }, rule: "U+000A"},
		{name: "name bidi override", mutate: func(r *AccessRequest) { r.BrandName = "Acme\u202eknaB" }, rule: "U+202E"},
		{name: "name zero width", mutate: func(r *AccessRequest) { r.BrandName = "Ac\u200bme" }, rule: "U+200B"},
		{name: "name invalid UTF-8", mutate: func(r *AccessRequest) { r.BrandName = "Acme\xff" }, rule: "not valid UTF-8"},

		{name: "url localhost http", mutate: func(r *AccessRequest) { r.BrandURL = "http://localhost:8080/x" }},
		{name: "url 127.0.0.1 http", mutate: func(r *AccessRequest) { r.BrandURL = "http://127.0.0.1" }},
		{name: "url [::1] http", mutate: func(r *AccessRequest) { r.BrandURL = "http://[::1]:9000/" }},
		{name: "url IPv6 https", mutate: func(r *AccessRequest) { r.BrandURL = "https://[2001:db8::1]/" }},
		{name: "url port", mutate: func(r *AccessRequest) { r.BrandURL = "https://acme.example:8443" }},
		{name: "url query", mutate: func(r *AccessRequest) { r.BrandURL = "https://acme.example?a=b#c" }},
		{name: "url punycode", mutate: func(r *AccessRequest) { r.BrandURL = "https://xn--bcher-kva.example/" }},
		{name: "url 2048 bytes", mutate: func(r *AccessRequest) { r.BrandURL = "https://a.example/" + strings.Repeat("p", 2048-18) }},
		{name: "url 2049 bytes", mutate: func(r *AccessRequest) { r.BrandURL = "https://a.example/" + strings.Repeat("p", 2049-18) }, rule: "longer than 2048 bytes"},
		{name: "url empty", mutate: func(r *AccessRequest) { r.BrandURL = "" }, rule: "brand URL is empty"},
		{name: "url http", mutate: func(r *AccessRequest) { r.BrandURL = "http://acme.example" }, rule: "must use https://"},
		{name: "url http localhost lookalike", mutate: func(r *AccessRequest) { r.BrandURL = "http://localhost.evil.example" }, rule: "must use https://"},
		{name: "url ftp", mutate: func(r *AccessRequest) { r.BrandURL = "ftp://acme.example" }, rule: `must start with "https://"`},
		{name: "url upper-case scheme", mutate: func(r *AccessRequest) { r.BrandURL = "HTTPS://acme.example" }, rule: `must start with "https://"`},
		{name: "url no host", mutate: func(r *AccessRequest) { r.BrandURL = "https:///path" }, rule: "no valid host"},
		{name: "url userinfo", mutate: func(r *AccessRequest) { r.BrandURL = "https://acme.example@evil.example/" }, rule: "user information"},
		{name: "url space", mutate: func(r *AccessRequest) { r.BrandURL = "https://acme .example" }, rule: "printable ASCII"},
		{name: "url unicode host", mutate: func(r *AccessRequest) { r.BrandURL = "https://аcme.example" }, rule: "printable ASCII"},
		{name: "url backslash", mutate: func(r *AccessRequest) { r.BrandURL = `https://acme.example\@evil.example` }, rule: "user information"},
		{name: "url bad label", mutate: func(r *AccessRequest) { r.BrandURL = "https://-acme.example" }, rule: "no valid host"},
		{name: "url port 0", mutate: func(r *AccessRequest) { r.BrandURL = "https://acme.example:0" }, rule: "invalid port"},
		{name: "url port 65536", mutate: func(r *AccessRequest) { r.BrandURL = "https://acme.example:65536" }, rule: "invalid port"},
		{name: "url bad IPv6", mutate: func(r *AccessRequest) { r.BrandURL = "https://[evil]/" }, rule: "invalid IPv6"},

		{name: "no scopes", mutate: func(r *AccessRequest) { r.Scopes = nil }, rule: "at least one scope"},
		{name: "64 scopes", mutate: func(r *AccessRequest) { r.Scopes = scopes(64) }},
		{name: "65 scopes", mutate: func(r *AccessRequest) { r.Scopes = scopes(65) }, rule: "more than 64 scopes"},
		{name: "duplicate scope", mutate: func(r *AccessRequest) { r.Scopes = append(r.Scopes, r.Scopes[0]) }, rule: `"read:name.given": listed twice`},
		{name: "hand-built bad scope", mutate: func(r *AccessRequest) { r.Scopes = []Scope{{Action: ActionRead, Path: "a..b"}} }, rule: "segment 2"},
		{name: "hand-built non-canonical scope", mutate: func(r *AccessRequest) { r.Scopes = []Scope{{Action: ActionRead, Path: "a.*"}} }, rule: "canonical"},
		{name: "write outside namespace", mutate: func(r *AccessRequest) { r.Scopes = []Scope{mustScope(t, "write:name.given")} }, rule: "may write only under"},
		{name: "scopes too long together", mutate: func(r *AccessRequest) {
			r.Scopes = nil
			for i := 0; i < 9; i++ {
				r.Scopes = append(r.Scopes, Scope{Action: ActionRead, Path: fmt.Sprintf("f%d.", i) + strings.Repeat("b", 60) + strings.Repeat("."+strings.Repeat("c", 63), 14)})
			}
		}, rule: "longer than 8192 bytes together"},

		{name: "no purposes", mutate: func(r *AccessRequest) { r.Purposes = nil }, rule: "at least one purpose"},
		{name: "unknown purpose", mutate: func(r *AccessRequest) { r.Purposes = []string{"Profit"} }, rule: `"Profit" is not a known DPV purpose`},
		{name: "17 purposes", mutate: func(r *AccessRequest) { r.Purposes = Purposes()[:17] }, rule: "more than 16 purposes"},

		{name: "duration 1h", mutate: func(r *AccessRequest) { r.Duration = time.Hour }},
		{name: "duration 59m", mutate: func(r *AccessRequest) { r.Duration = 59 * time.Minute }, rule: "shorter than 1h0m0s"},
		{name: "duration zero", mutate: func(r *AccessRequest) { r.Duration = 0 }, rule: "shorter than"},
		{name: "duration negative", mutate: func(r *AccessRequest) { r.Duration = -time.Hour }, rule: "shorter than"},
		{name: "duration 2 years", mutate: func(r *AccessRequest) { r.Duration = MaxConsentDuration }},
		{name: "duration 2 years and a second", mutate: func(r *AccessRequest) { r.Duration = MaxConsentDuration + time.Second }, rule: "longer than 17520h0m0s"},

		{name: "reason empty", mutate: func(r *AccessRequest) { r.Reason = "" }},
		{name: "reason 500", mutate: func(r *AccessRequest) { r.Reason = strings.Repeat("ü", 500) }},
		{name: "reason 501", mutate: func(r *AccessRequest) { r.Reason = strings.Repeat("ü", 501) }, rule: "reason is longer than 500 characters"},
		{name: "reason newline", mutate: func(r *AccessRequest) { r.Reason = "a\nb" }, rule: "reason contains the control"},
		{name: "reason tab", mutate: func(r *AccessRequest) { r.Reason = "a\tb" }, rule: "reason contains the control"},

		{name: "brand not a thumbprint", mutate: func(*AccessRequest) {}, jkt: "brand", rule: "not a key thumbprint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			tc.mutate(&r)
			j := jkt
			if tc.jkt != "" {
				j = tc.jkt
			}
			err := r.Validate(j)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Validate = %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("Validate = %q, want it to contain %q", err, tc.rule)
			}
		})
	}
	if PendingRequestTTL != 7*24*time.Hour || MaxConsentDuration != 2*365*24*time.Hour {
		t.Error("limits changed")
	}
}

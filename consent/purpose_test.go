package consent

import (
	"errors"
	"strings"
	"testing"
)

func TestPurposes(t *testing.T) {
	// The purposes PROTOCOL.md names, and the brief's sensible set.
	for _, p := range []string{
		"ServiceProvision", "Marketing", "Personalisation", "Delivery", "CustomerCare",
		"DirectMarketing", "Advertising", "ServicePersonalisation", "CustomerManagement",
		"CommunicationManagement", "FraudPreventionAndDetection", "LegalCompliance",
		"ResearchAndDevelopment", "ServiceOptimisation", "DeliveryOfGoods", "CustomerOrderManagement",
	} {
		if !ValidPurpose(p) {
			t.Errorf("ValidPurpose(%q) = false", p)
		}
		if d, ok := DescribePurpose(p); !ok || d == "" {
			t.Errorf("DescribePurpose(%q) = %q, %v", p, d, ok)
		}
	}
	for _, p := range []string{"", "marketing", "Personalization", "OrderFulfilment", "SellDataToThirdParties", "dpv:Marketing", "Marketing "} {
		if ValidPurpose(p) {
			t.Errorf("ValidPurpose(%q) = true", p)
		}
	}
	all := Purposes()
	seen := map[string]bool{}
	for _, p := range all {
		if seen[p] {
			t.Errorf("%s listed twice", p)
		}
		seen[p] = true
	}
	all[0] = "Mutated"
	if Purposes()[0] == "Mutated" {
		t.Error("Purposes returns the package's own slice")
	}
}

func TestParsePurposes(t *testing.T) {
	all := Purposes()
	tests := []struct {
		name string
		in   []string
		rule string
	}{
		{name: "one", in: []string{"ServiceProvision"}},
		{name: "16", in: all[:16]},
		{name: "17", in: all[:17], rule: "more than 16 purposes"},
		{name: "none", in: nil, rule: "at least one purpose"},
		{name: "duplicate", in: []string{"Marketing", "Delivery", "Marketing"}, rule: "Marketing listed twice"},
		{name: "unknown", in: []string{"Marketing", "Spying"}, rule: `"Spying" is not a known DPV purpose`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePurposes(tc.in)
			if tc.rule == "" {
				if err != nil || len(got) != len(tc.in) {
					t.Fatalf("ParsePurposes = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPurpose) || !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("ParsePurposes = %v, want ErrInvalidPurpose naming %q", err, tc.rule)
			}
		})
	}
}

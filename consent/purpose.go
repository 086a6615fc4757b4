package consent

import (
	"errors"
	"fmt"
)

// MaxPurposes is the most purposes a request or a record carries.
const MaxPurposes = 16

// ErrInvalidPurpose is the kind of every refused purpose list.
var ErrInvalidPurpose = errors.New("invalid purpose")

// purposeTerms is the closed list of purposes a brand may name, with a
// short description for the owner's client to show. Every term but
// "Delivery" is a purpose of the W3C Data Privacy Vocabulary, DPV 2
// (https://w3id.org/dpv#<term>), spelled as DPV spells it (British
// English: Personalisation, Optimisation). "Delivery" is the protocol's own
// shorthand (PROTOCOL.md section 3.1 names it among the DPV terms, but DPV
// has no such term); it means what dpv:DeliveryOfGoods means, and is kept
// as a distinct string so that both spellings are accepted and recorded as
// written. The list is ordered for display: service first, then
// personalisation, customer care, marketing, and obligations last.
//
// The list is deliberately a subset of DPV: broad enough for what a brand
// does with a customer's own profile, closed so that a brand cannot invent
// a purpose the owner's client cannot explain. Purposes for which a
// customer's vault is no fit (human resources, vendor management,
// counter-terrorism, selling data to third parties) are left out.
var purposeTerms = [...]struct{ term, desc string }{
	{"ServiceProvision", "to provide a service or product"},
	{"RequestedServiceProvision", "to provide a service the customer asked for"},
	{"DeliveryOfGoods", "to deliver goods or services the customer asked for"},
	{"Delivery", "to deliver goods or services the customer asked for (protocol shorthand for DeliveryOfGoods)"},
	{"PaymentManagement", "to process and manage payments, invoices and their records"},
	{"ServiceRegistration", "to register the customer for a service"},
	{"AccountManagement", "to create, maintain and manage the customer's account"},
	{"ServiceOptimisation", "to make a service work better"},
	{"ServiceUsageAnalytics", "to analyse and report how a service is used"},
	{"ImproveExistingProductsAndServices", "to improve existing products and services"},
	{"Personalisation", "to tailor something to the customer"},
	{"ServicePersonalisation", "to personalise a service"},
	{"UserInterfacePersonalisation", "to personalise what the customer sees, such as language"},
	{"ProvidePersonalisedRecommendations", "to recommend things to the customer"},
	{"ProvideProductRecommendations", "to recommend products to the customer"},
	{"CustomerManagement", "to manage the relationship with the customer"},
	{"CustomerCare", "to help the customer, resolve issues, ensure satisfaction"},
	{"CommunicationForCustomerCare", "to contact the customer about help and issues"},
	{"CustomerOrderManagement", "to process the customer's orders"},
	{"CustomerRelationshipManagement", "to manage and analyse interactions with the customer"},
	{"CustomerClaimsManagement", "to handle the customer's claims, such as refunds"},
	{"CommunicationManagement", "to send the customer communications"},
	{"Marketing", "to promote and sell products or services"},
	{"DirectMarketing", "to market directly to the customer"},
	{"Advertising", "to show advertising"},
	{"PersonalisedAdvertising", "to show advertising personalised to the customer"},
	{"SocialMediaMarketing", "to market through social media"},
	{"PublicRelations", "to manage public relations"},
	{"ResearchAndDevelopment", "to research and develop new products or services"},
	{"CommercialResearch", "to do research with a commercial aim"},
	{"IdentityVerification", "to verify the customer's identity"},
	{"AgeVerification", "to verify the customer's age"},
	{"FraudPreventionAndDetection", "to prevent and detect fraud"},
	{"EnforceSecurity", "to keep data, people and systems secure"},
	{"LegalCompliance", "to meet a legal or statutory obligation"},
	{"RecordManagement", "to keep records, such as logs"},
	{"FulfilmentOfContractualObligation", "to fulfil a contract with the customer"},
}

// Purposes returns the accepted purpose terms, in display order. The
// slice is a copy.
func Purposes() []string {
	out := make([]string, len(purposeTerms))
	for i, p := range purposeTerms {
		out[i] = p.term
	}
	return out
}

// ValidPurpose reports whether term is an accepted purpose. Terms are
// case-sensitive, as in DPV.
func ValidPurpose(term string) bool {
	_, ok := DescribePurpose(term)
	return ok
}

// DescribePurpose returns a short description of an accepted purpose, for
// the owner's client to show beside the term, and whether term is
// accepted.
func DescribePurpose(term string) (string, bool) {
	for _, p := range purposeTerms {
		if p.term == term {
			return p.desc, true
		}
	}
	return "", false
}

// ParsePurposes checks a list of 1 to MaxPurposes accepted purposes
// without duplicates and returns a copy.
func ParsePurposes(list []string) ([]string, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: at least one purpose is needed", ErrInvalidPurpose)
	}
	if len(list) > MaxPurposes {
		return nil, fmt.Errorf("%w: more than %d purposes", ErrInvalidPurpose, MaxPurposes)
	}
	out := make([]string, 0, len(list))
	for _, p := range list {
		if !ValidPurpose(p) {
			return nil, fmt.Errorf("%w: %q is not a known DPV purpose", ErrInvalidPurpose, truncate(p, 64))
		}
		if contains(out, p) {
			return nil, fmt.Errorf("%w: %s listed twice", ErrInvalidPurpose, p)
		}
		out = append(out, p)
	}
	return out, nil
}

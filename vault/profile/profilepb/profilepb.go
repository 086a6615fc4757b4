// Package profilepb converts profile values between the domain model
// (package profile) and the wire contract (proto/vrm/v1). Both the vault
// server and the Go clients use it, so the mapping lives in one place.
package profilepb

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	vrmv1 "github.com/vrmvault/vrmvault/proto/vrm/v1"
	"github.com/vrmvault/vrmvault/vault/profile"
)

// ErrNoValue is returned by FromProto for a Value with no kind set.
var ErrNoValue = errors.New("value has no kind set")

// ToProto returns the wire form of v.
func ToProto(v profile.Value) *vrmv1.Value {
	switch v.Kind {
	case profile.KindString:
		return &vrmv1.Value{Kind: &vrmv1.Value_StringValue{StringValue: v.Str}}
	case profile.KindInt:
		return &vrmv1.Value{Kind: &vrmv1.Value_IntValue{IntValue: v.Int}}
	case profile.KindBool:
		return &vrmv1.Value{Kind: &vrmv1.Value_BoolValue{BoolValue: v.Bool}}
	case profile.KindTimestamp:
		return &vrmv1.Value{Kind: &vrmv1.Value_TimestampValue{TimestampValue: timestamppb.New(v.Time)}}
	case profile.KindList:
		return &vrmv1.Value{Kind: &vrmv1.Value_ListValue{ListValue: &vrmv1.StringList{Values: append([]string(nil), v.List...)}}}
	default:
		return &vrmv1.Value{}
	}
}

// FromProto returns the domain form of a wire value. It refuses a value
// with no kind and an invalid timestamp.
func FromProto(v *vrmv1.Value) (profile.Value, error) {
	switch k := v.GetKind().(type) {
	case *vrmv1.Value_StringValue:
		return profile.StringValue(k.StringValue), nil
	case *vrmv1.Value_IntValue:
		return profile.IntValue(k.IntValue), nil
	case *vrmv1.Value_BoolValue:
		return profile.BoolValue(k.BoolValue), nil
	case *vrmv1.Value_TimestampValue:
		if err := k.TimestampValue.CheckValid(); err != nil {
			return profile.Value{}, fmt.Errorf("invalid timestamp: %w", err)
		}
		return profile.TimeValue(k.TimestampValue.AsTime()), nil
	case *vrmv1.Value_ListValue:
		return profile.ListValue(append([]string(nil), k.ListValue.GetValues()...)), nil
	default:
		return profile.Value{}, ErrNoValue
	}
}

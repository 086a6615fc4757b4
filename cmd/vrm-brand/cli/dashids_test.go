package cli

import (
	"slices"
	"testing"
)

func TestProtectDashIDs(t *testing.T) {
	const id = "-h6u2pUCw8ZJMqp9SS6Auw"
	root := newApp(Env{}).rootCommand()
	tests := []struct{ in, want []string }{
		{[]string{"CMD", id}, []string{"CMD", "--", id}},
		{[]string{"CMD", id, "-o", "json"}, []string{"CMD", "-o", "json", "--", id}},
		{[]string{"-o", "table", "CMD", id}, []string{"-o", "table", "CMD", "--", id}},
		{[]string{"CMD", "--", id}, []string{"CMD", "--", id}},
		{[]string{"CMD", "h6u2pUCw8ZJMqp9SS6Auw"}, []string{"CMD", "h6u2pUCw8ZJMqp9SS6Auw"}},
		{[]string{"CMD", "-o", "json"}, []string{"CMD", "-o", "json"}},
		{[]string{"CMD", "--h6u2pUCw8ZJMqp9SS6Auw"}, []string{"CMD", "--h6u2pUCw8ZJMqp9SS6Auw"}},
		{[]string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au"}, []string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au"}}, // 21 characters
		{[]string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au.w"}, []string{"CMD", "-h6u2pUCw8ZJMqp9SS6Au.w"}},
		{[]string{"CMD", "--timeout", id}, []string{"CMD", "--timeout", id}}, // the value of a flag
		{[]string{"CMD", "-o", id}, []string{"CMD", "-o", id}},
	}
	for _, tt := range tests {
		for _, args := range [][]string{tt.in, tt.want} {
			for i := range args {
				if args[i] == "CMD" {
					args[i] = "status"
				}
			}
		}
		if got := protectDashIDs(root, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("protectDashIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

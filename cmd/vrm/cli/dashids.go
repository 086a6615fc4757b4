package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrmvault/vrmvault/consent"
)

// generatedIDLen is the length of the request and consent ids a vault
// generates (consent.NewID: 128 bits in base64url).
const generatedIDLen = 22

// jktLen is the length of a key thumbprint (SHA-256 in base64url), the
// argument of vrm keys rm.
const jktLen = 43

// protectDashIDs returns args with every argument that has the shape of a
// generated id or a key thumbprint starting with '-' moved after a "--",
// so that cobra reads it as an argument rather than as flags. Base64url
// ids may start with '-' (one in 64 does): "vrm revoke
// -h6u2pUCw8ZJMqp9SS6Auw" is read as "vrm revoke --
// -h6u2pUCw8ZJMqp9SS6Auw". Left alone are the value of a flag that takes
// one (the argument after it) and every argument when a "--" is already
// there. No flag has a name of that shape, and the commands that take an
// id or a thumbprint take no other argument, so no order changes.
func protectDashIDs(root *cobra.Command, args []string) []string {
	if slices.Contains(args, "--") {
		return args
	}
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		cmd = root
	}
	var keep, ids []string
	for i, arg := range args {
		if looksLikeDashID(arg) && (i == 0 || !flagTakesValue(cmd, args[i-1])) {
			ids = append(ids, arg)
			continue
		}
		keep = append(keep, arg)
	}
	if len(ids) == 0 {
		return args
	}
	return append(append(keep, "--"), ids...)
}

// looksLikeDashID reports whether s has the shape of a generated id or a
// key thumbprint that starts with '-' (and is not a long flag).
func looksLikeDashID(s string) bool {
	return (len(s) == generatedIDLen || len(s) == jktLen) && s[0] == '-' && s[1] != '-' && consent.ValidID(s)
}

// flagTakesValue reports whether arg names a flag of cmd, without an
// "=value", that takes a value: the next argument.
func flagTakesValue(cmd *cobra.Command, arg string) bool {
	switch {
	case strings.HasPrefix(arg, "--"):
		name := arg[2:]
		if strings.Contains(name, "=") {
			return false
		}
		f := cmd.Flags().Lookup(name)
		if f == nil {
			f = cmd.InheritedFlags().Lookup(name)
		}
		return f != nil && f.NoOptDefVal == ""
	case len(arg) == 2 && arg[0] == '-':
		f := cmd.Flags().ShorthandLookup(arg[1:])
		if f == nil {
			f = cmd.InheritedFlags().ShorthandLookup(arg[1:])
		}
		return f != nil && f.NoOptDefVal == ""
	}
	return false
}

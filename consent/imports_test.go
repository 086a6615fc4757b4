package consent

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNoModulePackage enforces the layering of DESIGN.md: consent is
// the pure domain and imports no other package of this module, so that a
// brand can verify a receipt with this package alone.
func TestImportsNoModulePackage(t *testing.T) {
	const module = "github.com/vrmvault/vrmvault"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	// I/O packages the pure domain must not use either.
	banned := []string{"os", "net", "net/http", "google.golang.org/grpc", "github.com/dgraph-io/badger/v4"}
	fset := token.NewFileSet()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == module || strings.HasPrefix(path, module+"/") {
				t.Errorf("%s imports %s: consent must not import other packages of this module", f, path)
			}
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for _, b := range banned {
				if path == b || strings.HasPrefix(path, b+"/") {
					t.Errorf("%s imports %s: consent does no I/O", f, path)
				}
			}
		}
	}
}

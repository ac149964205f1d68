package admin

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes holds openapi.json to the mux: every route is
// documented with its method and every documented operation is served;
// docs/admin-openapi.json is the same file.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	served := []string{"GET /api/v1/openapi.json"}
	for _, r := range routes {
		served = append(served, r.pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("route %s is not in openapi.json", s)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("openapi.json documents %s, which the API does not serve", d)
		}
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	inDocs, err := os.ReadFile("../../docs/admin-openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inDocs, openAPI) {
		t.Errorf("docs/admin-openapi.json differs from core/admin/openapi.json: copy it over")
	}
}

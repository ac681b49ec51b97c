package hearsay

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The binding covers include/hearsay.h: every function the header declares
// is called by the package (its Go files or helpers.c), or is listed below
// with the reason it needs no call. A function or stats field added to the
// header fails these tests until the binding covers it.

// notCalled are header functions the package has no need to call.
var notCalled = map[string]string{
	"hearsay_config_remove_tag": "Config.Tags is a map: a tag left out of it is never set",
	"hearsay_member_tag":        "Member.Tags holds every tag (read with hearsay_member_tag_key/_value)",
}

// headerText is include/hearsay.h without comments (which mention calls in
// prose).
func headerText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "include", "hearsay.h"))
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(b), "")
	return regexp.MustCompile(`//[^\n]*`).ReplaceAllString(s, "")
}

func headerFunctions(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(hearsay_[a-z0-9_]+)\([^)]*\)\s*;`).FindAllStringSubmatch(headerText(t), -1) {
		out[m[1]] = true
	}
	if len(out) < 100 || !out["hearsay_pool_new"] || !out["hearsay_test_panic_ptr"] {
		t.Fatalf("the header parsed into %d functions", len(out))
	}
	return out
}

// calledByPackage is every hearsay_ name the package's sources call.
func calledByPackage(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	goCall := regexp.MustCompile(`\bC\.(hearsay_[a-z0-9_]+)\(`)
	cCall := regexp.MustCompile(`\b(hearsay_[a-z0-9_]+)\(`)
	for _, f := range append(files, "helpers.c") {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		re := goCall
		if strings.HasSuffix(f, ".c") {
			re = cCall
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	return out
}

func TestEveryHeaderFunctionIsCovered(t *testing.T) {
	declared := headerFunctions(t)
	called := calledByPackage(t)
	var missing []string
	for name := range declared {
		if !called[name] && notCalled[name] == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("functions of include/hearsay.h the Go binding does not call: %s", strings.Join(missing, ", "))
	}
	for name := range notCalled {
		if !declared[name] {
			t.Errorf("notCalled lists %s, which the header does not declare", name)
		}
		if called[name] {
			t.Errorf("notCalled lists %s, which the package calls", name)
		}
	}
}

func TestStatsHasEveryHeaderField(t *testing.T) {
	body := regexp.MustCompile(`(?s)typedef struct hearsay_stats \{(.*?)\} hearsay_stats;`).FindStringSubmatch(headerText(t))
	if body == nil {
		t.Fatal("no hearsay_stats in the header")
	}
	src, err := os.ReadFile("pool.go")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range regexp.MustCompile(`\b(uint32_t|uint64_t)\s+([a-z0-9_]+)\s*;`).FindAllStringSubmatch(body[1], -1) {
		if m[2] == "size" {
			continue
		}
		goName := ""
		for _, part := range strings.Split(m[2], "_") {
			goName += strings.ToUpper(part[:1]) + part[1:]
		}
		want = append(want, goName)
		kind := reflect.Uint64
		if m[1] == "uint32_t" {
			kind = reflect.Uint32
		}
		if f, ok := reflect.TypeOf(Stats{}).FieldByName(goName); !ok || f.Type.Kind() != kind {
			t.Errorf("Stats.%s (%s %s in C) is missing or of another type", goName, m[1], m[2])
		}
		if !strings.Contains(string(src), "uint"+strings.TrimSuffix(m[1][4:], "_t")+"(st."+m[2]+")") {
			t.Errorf("Pool.Stats does not read st.%s", m[2])
		}
	}
	if got := reflect.TypeOf(Stats{}).NumField(); got != len(want) {
		t.Errorf("Stats has %d fields, the header %d", got, len(want))
	}
}

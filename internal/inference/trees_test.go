package inference_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
)

// ---- helpers ----

func writeNamed(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t testing.TB, path, format string) inference.Model {
	t.Helper()
	if err := inference.Check(path, format); err != nil {
		t.Fatalf("Check: %v", err)
	}
	m, err := inference.Load(path, format)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m
}

// predict runs rows through the typed path, as FP32 or FP64, and returns
// the output rows.
func predict(t testing.TB, m inference.Model, rows [][]float64, fp64 bool) [][]float32 {
	t.Helper()
	width := len(rows[0])
	in := inference.Tensor{Name: "x", Shape: []int64{int64(len(rows)), int64(width)}}
	if fp64 {
		var d []float64
		for _, r := range rows {
			d = append(d, r...)
		}
		in.Datatype, in.Data = "FP64", d
	} else {
		var d []float32
		for _, r := range rows {
			for _, v := range r {
				d = append(d, float32(v))
			}
		}
		in.Datatype, in.Data = "FP32", d
	}
	outs, err := m.Run(context.Background(), []inference.Tensor{in}, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(outs) != 1 || outs[0].Name != "y" || outs[0].Datatype != "FP32" || len(outs[0].Shape) != 2 || outs[0].Shape[0] != int64(len(rows)) {
		t.Fatalf("outputs %+v", outs)
	}
	y := outs[0].Data.([]float32)
	k := int(outs[0].Shape[1])
	got := make([][]float32, len(rows))
	for r := range got {
		got[r] = y[r*k : (r+1)*k]
	}
	return got
}

func closeRows(t *testing.T, label string, got [][]float32, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", label, len(got), len(want))
	}
	for r := range want {
		if len(got[r]) != len(want[r]) {
			t.Fatalf("%s row %d: %d outputs, want %d", label, r, len(got[r]), len(want[r]))
		}
		for k := range want[r] {
			if d := math.Abs(float64(got[r][k]) - want[r][k]); !(d <= tol) {
				t.Errorf("%s row %d output %d: got %v, want %v", label, r, k, got[r][k], want[r][k])
			}
		}
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func softmax(x ...float64) []float64 {
	hi := math.Inf(-1)
	for _, v := range x {
		hi = max(hi, v)
	}
	sum := 0.0
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Exp(v - hi)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func is(err error, target error) bool { return errors.Is(err, target) }

// ---- LightGBM ----

// lgRegression is testdata/lightgbm_regression.txt by hand:
//
//	tree 0: x0 <= 1.5 ? 0.5 : (x2 <= 0.5 ? -1.25 : 2)   missing: None (NaN is 0)
//	tree 1: x1 <= 0.25 ? 0.25 : -0.75                   missing: NaN goes left
func lgRegression(x []float64) float64 {
	x0, x2 := x[0], x[2]
	if math.IsNaN(x0) {
		x0 = 0
	}
	if math.IsNaN(x2) {
		x2 = 0
	}
	t0 := 2.0
	switch {
	case x0 <= 1.5:
		t0 = 0.5
	case x2 <= 0.5:
		t0 = -1.25
	}
	t1 := -0.75
	if math.IsNaN(x[1]) || x[1] <= 0.25 {
		t1 = 0.25
	}
	return t0 + t1
}

var lgRows = [][]float64{
	{0, 0, 0},
	{1.5, 0.25, 0.5}, // on every threshold: LightGBM goes left
	{1.5000001, 0.2500001, 0.5000001},
	{3, 1, 0},
	{3, -1, 1},
	{2, 2, 0.5},
	{-4, 7, 9},
}

func TestLightGBMRegressionByHand(t *testing.T) {
	model := mustLoad(t, filepath.Join("testdata", "lightgbm_regression.txt"), "lightgbm")
	md := model.Metadata()
	if md.Name != "lightgbm_regression" || md.Platform != "lightgbm" {
		t.Errorf("metadata name %q platform %q", md.Name, md.Platform)
	}
	if got, want := fmt.Sprint(md.Inputs, " ", md.Outputs), `[{x FP32 [-1 3]}] [{y FP32 [-1 1]}]`; got != want {
		t.Errorf("metadata %s, want %s", got, want)
	}
	var want [][]float64
	for _, r := range lgRows {
		want = append(want, []float64{lgRegression(r)})
	}
	closeRows(t, "FP32", predict(t, model, lgRows, false), want, 1e-6)
	closeRows(t, "FP64", predict(t, model, lgRows, true), want, 1e-6)

	// The wire path.
	var anys []any
	for _, r := range lgRows {
		for _, v := range r {
			anys = append(anys, v)
		}
	}
	resp, err := model.Infer(context.Background(), &apitypes.InferRequest{ID: "r1", Inputs: []apitypes.InferTensor{{Name: "x", Datatype: "FP64", Shape: []int64{int64(len(lgRows)), 3}, Data: anys}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "r1" || resp.ModelName != "lightgbm_regression" || len(resp.Outputs) != 1 || fmt.Sprint(resp.Outputs[0].Shape) != fmt.Sprint([]int64{int64(len(lgRows)), 1}) {
		t.Fatalf("response %+v", resp)
	}
	for r, v := range resp.Outputs[0].Data {
		if math.Abs(v.(float64)-want[r][0]) > 1e-6 {
			t.Errorf("Infer row %d: %v, want %v", r, v, want[r][0])
		}
	}

	// NaN is LightGBM's missing value (it reaches Run through the typed path only).
	nan := math.NaN()
	nanRows := [][]float64{{nan, nan, nan}, {3, nan, nan}, {3, nan, 1}}
	want = nil
	for _, r := range nanRows {
		want = append(want, []float64{lgRegression(r)})
	}
	closeRows(t, "NaN", predict(t, model, nanRows, true), want, 1e-6)
}

// lgTreeSpec is one tree of a generated LightGBM text model.
type lgTreeSpec struct {
	feature, left, right, decision []int
	threshold, leaf                []float64
	extra                          string // more key=value lines
}

func joinNums[T int | float64](v []T) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
}

// lgText writes a LightGBM text model as LightGBM 4 does.
func lgText(version, objective string, numClass, features int, header string, trees []lgTreeSpec) []byte {
	var blocks []string
	for i, tr := range trees {
		var b strings.Builder
		fmt.Fprintf(&b, "Tree=%d\nnum_leaves=%d\nnum_cat=0\n", i, len(tr.leaf))
		// A one-leaf tree has these lines too, empty.
		fmt.Fprintf(&b, "split_feature=%s\nsplit_gain=%s\nthreshold=%s\ndecision_type=%s\nleft_child=%s\nright_child=%s\n",
			joinNums(tr.feature), joinNums(tr.threshold), joinNums(tr.threshold), joinNums(tr.decision), joinNums(tr.left), joinNums(tr.right))
		fmt.Fprintf(&b, "leaf_value=%s\n%sis_linear=0\nshrinkage=1\n\n\n", joinNums(tr.leaf), tr.extra)
		blocks = append(blocks, b.String())
	}
	sizes := make([]int, len(blocks))
	names := make([]string, features)
	for i := range blocks {
		sizes[i] = len(blocks[i])
	}
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "tree\nversion=%s\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\n", version, numClass, numClass, features-1)
	if objective != "" {
		fmt.Fprintf(&b, "objective=%s\n", objective)
	}
	fmt.Fprintf(&b, "%sfeature_names=%s\nfeature_infos=%s\ntree_sizes=%s\n\n", header, strings.Join(names, " "), strings.Repeat("none ", features)[:5*features-1], joinNums(sizes))
	b.WriteString(strings.Join(blocks, ""))
	b.WriteString("end of trees\n\nfeature_importances:\n\nparameters:\nend of parameters\n\npandas_categorical:null\n")
	return b.Bytes()
}

// stump is x[f] <= thr ? l : r (default left, missing None).
func stump(f int, thr, l, r float64) lgTreeSpec {
	return lgTreeSpec{feature: []int{f}, threshold: []float64{thr}, decision: []int{2}, left: []int{-1}, right: []int{-2}, leaf: []float64{l, r}}
}

func stumpAt(x []float64, f int, thr, l, r float64) float64 {
	if x[f] <= thr {
		return l
	}
	return r
}

func TestLightGBMObjectivesAreTransformed(t *testing.T) {
	rows := [][]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {-3, 5}}
	raw := func(x []float64) float64 { return stumpAt(x, 0, 0.5, -1, 2) + stumpAt(x, 1, 0.5, 0.3, -0.6) }
	two := []lgTreeSpec{stump(0, 0.5, -1, 2), stump(1, 0.5, 0.3, -0.6)}
	for _, tc := range []struct {
		name, version, objective, header string
		want                             func(x []float64) float64
	}{
		{"binary", "v3", "binary sigmoid:1", "", func(x []float64) float64 { return sigmoid(raw(x)) }},
		{"binary sigmoid 2", "v4", "binary sigmoid:2", "", func(x []float64) float64 { return sigmoid(2 * raw(x)) }},
		{"cross entropy", "v4", "cross_entropy", "", func(x []float64) float64 { return sigmoid(raw(x)) }},
		{"cross entropy lambda", "v4", "cross_entropy_lambda", "", func(x []float64) float64 { return math.Log1p(math.Exp(raw(x))) }},
		{"poisson", "v4", "poisson", "", func(x []float64) float64 { return math.Exp(raw(x)) }},
		{"tweedie", "v2", "tweedie", "", func(x []float64) float64 { return math.Exp(raw(x)) }},
		{"regression sqrt", "v4", "regression sqrt", "", func(x []float64) float64 { v := raw(x); return math.Copysign(v*v, v) }},
		{"huber", "v4", "huber", "", raw},
		{"quantile", "v4", "quantile", "", raw},
		{"lambdarank", "v4", "lambdarank", "", raw},
		{"custom objective", "v4", "", "", raw},
		{"one-leaf tree", "v4", "regression", "", func(x []float64) float64 { return raw(x) + 0.125 }},
		// A random forest averages its trees, then converts.
		{"random forest", "v4", "binary sigmoid:1", "average_output\n", func(x []float64) float64 { return sigmoid(raw(x) / 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trees := two
			if tc.name == "one-leaf tree" {
				trees = append(trees[:2:2], lgTreeSpec{leaf: []float64{0.125}})
			}
			model := mustLoad(t, writeNamed(t, "m.txt", lgText(tc.version, tc.objective, 1, 2, tc.header, trees)), "lightgbm")
			var want [][]float64
			for _, r := range rows {
				want = append(want, []float64{tc.want(r)})
			}
			closeRows(t, tc.name, predict(t, model, rows, false), want, 1e-6)
		})
	}
}

func TestLightGBMMulticlass(t *testing.T) {
	// Two rounds of three trees, one per class.
	trees := []lgTreeSpec{
		stump(0, 0.5, 1, -1), stump(1, 0.5, -0.5, 0.5), stump(0, 1.5, 0, 0.25),
		stump(1, 1.5, 0.1, 0.2), stump(0, 0.5, 0.3, -0.3), stump(1, 0.5, 0.7, -0.7),
	}
	rawOf := func(x []float64) []float64 {
		s := make([]float64, 3)
		for i, tr := range trees {
			s[i%3] += stumpAt(x, tr.feature[0], tr.threshold[0], tr.leaf[0], tr.leaf[1])
		}
		return s
	}
	rows := [][]float64{{0, 0}, {1, 1}, {2, 2}, {0.5, 1.5}}
	for _, tc := range []struct {
		objective string
		want      func(x []float64) []float64
	}{
		{"multiclass num_class:3", func(x []float64) []float64 { return softmax(rawOf(x)...) }},
		{"multiclassova num_class:3 sigmoid:1", func(x []float64) []float64 {
			r := rawOf(x)
			return []float64{sigmoid(r[0]), sigmoid(r[1]), sigmoid(r[2])}
		}},
	} {
		model := mustLoad(t, writeNamed(t, "mc.txt", lgText("v4", tc.objective, 3, 2, "", trees)), "lightgbm")
		if got := fmt.Sprint(model.Metadata().Outputs); got != "[{y FP32 [-1 3]}]" {
			t.Errorf("%s: outputs %s", tc.objective, got)
		}
		var want [][]float64
		for _, r := range rows {
			want = append(want, tc.want(r))
		}
		closeRows(t, tc.objective, predict(t, model, rows, false), want, 1e-6)
	}
}

func TestLightGBMCategoricalSplit(t *testing.T) {
	// x0 in {1, 3} ? 1 : -1, as a bitset (0b1010) in cat_threshold.
	cat := lgTreeSpec{feature: []int{0}, threshold: []float64{0}, decision: []int{1}, left: []int{-1}, right: []int{-2}, leaf: []float64{1, -1},
		extra: "cat_boundaries=0 1\ncat_threshold=10\n"}
	text := bytes.Replace(lgText("v4", "regression", 1, 1, "", []lgTreeSpec{cat}), []byte("num_cat=0"), []byte("num_cat=1"), 1)
	model := mustLoad(t, writeNamed(t, "cat.txt", text), "lightgbm")
	rows := [][]float64{{1}, {3}, {3.7}, {2}, {0}, {-1}, {35}, {math.NaN()}}
	want := [][]float64{{1}, {1}, {1}, {-1}, {-1}, {-1}, {-1}, {-1}}
	closeRows(t, "categorical", predict(t, model, rows, true), want, 0)

	// A categorical threshold indexes the tree's category sets.
	cat.threshold = []float64{1}
	text = bytes.Replace(lgText("v4", "regression", 1, 1, "", []lgTreeSpec{cat}), []byte("num_cat=0"), []byte("num_cat=1"), 1)
	if err := inference.Check(writeNamed(t, "cat.txt", text), "lightgbm"); err == nil || !strings.Contains(err.Error(), "category sets") {
		t.Errorf("out-of-range category set: %v", err)
	}
}

// lgRegressionJSON is testdata/lightgbm_regression.txt as Booster.dump_model writes it.
const lgRegressionJSON = `{"name":"tree","version":"v4","num_class":1,"num_tree_per_iteration":1,"label_index":0,"max_feature_idx":2,
"objective":"regression","average_output":false,"feature_names":["f0","f1","f2"],"monotone_constraints":[],"feature_infos":{},
"tree_info":[
 {"tree_index":0,"num_leaves":3,"num_cat":0,"shrinkage":1,"tree_structure":{"split_index":0,"split_feature":0,"split_gain":10.5,
   "threshold":1.5,"decision_type":"<=","default_left":true,"missing_type":"None","internal_value":0,"internal_weight":20,"internal_count":20,
   "left_child":{"leaf_index":0,"leaf_value":0.5,"leaf_weight":10,"leaf_count":10},
   "right_child":{"split_index":1,"split_feature":2,"split_gain":3.25,"threshold":0.5,"decision_type":"<=","default_left":true,"missing_type":"None",
     "internal_value":0.375,"internal_weight":10,"internal_count":10,
     "left_child":{"leaf_index":1,"leaf_value":-1.25,"leaf_weight":5,"leaf_count":5},
     "right_child":{"leaf_index":2,"leaf_value":2,"leaf_weight":5,"leaf_count":5}}}},
 {"tree_index":1,"num_leaves":2,"num_cat":0,"shrinkage":0.1,"tree_structure":{"split_index":0,"split_feature":1,"split_gain":1.5,
   "threshold":0.25,"decision_type":"<=","default_left":true,"missing_type":"NaN","internal_value":0,"internal_weight":20,"internal_count":20,
   "left_child":{"leaf_index":0,"leaf_value":0.25,"leaf_weight":12,"leaf_count":12},
   "right_child":{"leaf_index":1,"leaf_value":-0.75,"leaf_weight":8,"leaf_count":8}}}],
"feature_importances":{"f0":1,"f1":1,"f2":1}}
`

func TestLightGBMJSONDump(t *testing.T) {
	model := mustLoad(t, writeNamed(t, "dump.json", []byte(lgRegressionJSON)), "lightgbm")
	var want [][]float64
	for _, r := range lgRows {
		want = append(want, []float64{lgRegression(r)})
	}
	closeRows(t, "json", predict(t, model, lgRows, false), want, 1e-6)
	if got := fmt.Sprint(model.Metadata().Inputs); got != "[{x FP32 [-1 3]}]" {
		t.Errorf("inputs %s", got)
	}

	// A forest: the trees are averaged, then converted.
	forest := strings.Replace(strings.Replace(lgRegressionJSON, `"average_output":false`, `"average_output":true`, 1), `"objective":"regression"`, `"objective":"binary sigmoid:1"`, 1)
	model = mustLoad(t, writeNamed(t, "rf.json", []byte(forest)), "lightgbm")
	want = nil
	for _, r := range lgRows {
		want = append(want, []float64{sigmoid(lgRegression(r) / 2)})
	}
	closeRows(t, "forest", predict(t, model, lgRows, false), want, 1e-6)
}

func TestLightGBMRefusals(t *testing.T) {
	good := lgText("v4", "regression", 1, 2, "", []lgTreeSpec{stump(0, 0.5, -1, 2)})
	threeLeaves := lgTreeSpec{feature: []int{0, 1}, threshold: []float64{1, 2}, decision: []int{2, 2}, left: []int{-1, -2}, right: []int{1, -3}, leaf: []float64{1, 2, 3}}
	mod := func(f func(*lgTreeSpec)) []byte {
		tr := threeLeaves
		tr.feature, tr.left, tr.right = append([]int(nil), tr.feature...), append([]int(nil), tr.left...), append([]int(nil), tr.right...)
		f(&tr)
		return lgText("v4", "regression", 1, 2, "", []lgTreeSpec{tr})
	}
	if err := inference.Check(writeNamed(t, "ok.txt", mod(func(*lgTreeSpec) {})), "lightgbm"); err != nil {
		t.Fatalf("the unmodified three-leaf tree: %v", err)
	}
	linearJSON := strings.Replace(lgRegressionJSON, `"leaf_value":2,`, `"leaf_value":2,"leaf_const":0.5,"leaf_features":[0],"leaf_coeff":[1.5],`, 1)
	for _, tc := range []struct {
		name   string
		file   []byte
		want   []string
		unsupp bool
	}{
		{"linear tree", bytes.Replace(good, []byte("is_linear=0"), []byte("is_linear=1\nleaf_const=0 0\nnum_features=1 1\nleaf_features=0  0 \nleaf_coeff=1  2 "), 1), []string{"linear trees", "process runtime"}, true},
		{"linear tree in JSON", []byte(linearJSON), []string{"linear trees"}, true},
		{"version 5", bytes.Replace(good, []byte("version=v4"), []byte("version=v5"), 1), []string{"v5", "v2 to v4"}, true},
		{"unknown objective", bytes.Replace(good, []byte("objective=regression"), []byte("objective=gravity pull:3"), 1), []string{`"gravity pull:3"`, "process runtime"}, true},
		{"more trees per iteration than classes", bytes.Replace(good, []byte("num_tree_per_iteration=1"), []byte("num_tree_per_iteration=2"), 1), []string{"num_tree_per_iteration"}, true},
		{"cycle", mod(func(tr *lgTreeSpec) { tr.right[1] = 1 }), []string{"tree 0", "node 1 has child node 1"}, false},
		{"child out of range", mod(func(tr *lgTreeSpec) { tr.right[0] = 7 }), []string{"tree 0", "child node 7"}, false},
		{"leaf out of range", mod(func(tr *lgTreeSpec) { tr.left[1] = -9 }), []string{"tree 0", "leaf child 8"}, false},
		{"shared leaf", mod(func(tr *lgTreeSpec) { tr.left[1] = -1 }), []string{"tree 0", "leaf child 0"}, false},
		{"feature out of range", mod(func(tr *lgTreeSpec) { tr.feature[1] = 2 }), []string{"feature 2", "2 features"}, false},
		{"negative feature", mod(func(tr *lgTreeSpec) { tr.feature[0] = -1 }), []string{"feature -1"}, false},
		{"missing trees", bytes.Replace(good, []byte("tree_sizes="), []byte("tree_sizes=100 "), 1), []string{"tree 1", "no num_leaves"}, false},
		{"short column", bytes.Replace(good, []byte("left_child=-1"), []byte("left_child="), 1), []string{"left_child has 0 values"}, false},
		{"no header", []byte("hello\nworld\n"), []string{"version="}, false},
		{"empty", nil, []string{"version="}, false},
		{"bad JSON", []byte(`{"name":"tree",`), []string{"JSON"}, false},
		{"other JSON", []byte(`{"learner":{}}`), []string{`"name"`}, false},
		{"JSON feature out of range", []byte(strings.Replace(lgRegressionJSON, `"split_feature":2`, `"split_feature":3`, 1)), []string{"feature"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeNamed(t, "model.txt", tc.file)
			err := inference.Check(path, "lightgbm")
			if err == nil {
				t.Fatal("Check accepted it")
			}
			if _, lerr := inference.Load(path, "lightgbm"); lerr == nil || lerr.Error() != err.Error() {
				t.Errorf("Load says %v, Check %v", lerr, err)
			}
			want := tc.want
			if !tc.unsupp {
				want = append(want, "model.txt is not a valid lightgbm model")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
			if is(err, inference.ErrUnsupported) != tc.unsupp {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v", err, !tc.unsupp)
			}
		})
	}
}

// ---- XGBoost ----

// The reference predictions of XGBoost 1.7.4 itself for xgboostRows (see
// testdata/xgboost_gen.py).
var (
	xgboostRows = [][]float64{{0, 0, 0}, {1, 2, 3}, {3, 3, 0}, {2, 1, 1}, {1, 1, 2}, {math.NaN(), 2, 1}, {3, 0, math.NaN()}, {2.5, 1.5, 0.5}}
	xgboostRef  = map[string][][]float64{
		"binary":  {{0.1450284719467163}, {0.25081902742385864}, {0.878110945224762}, {0.30676010251045227}, {0.19939836859703064}, {0.7992408275604248}, {0.3519361913204193}, {0.30676010251045227}},
		"reg":     {{0.7603493332862854}, {-1.259385347366333}, {2.816666603088379}, {1.9310336112976074}, {-0.48668426275253296}, {2.816666603088379}, {1.098762035369873}, {1.9310336112976074}},
		"poisson": {{0.8860252499580383}, {1.4288254976272583}, {1.196899175643921}, {1.4288254976272583}, {1.4288254976272583}, {1.4288254976272583}, {1.4288254976272583}, {1.196899175643921}},
		"dart":    {{0.15793226659297943}, {0.33104968070983887}, {0.8654003143310547}, {0.3030293583869934}, {0.19660305976867676}, {0.780362606048584}, {0.37687432765960693}, {0.3030293583869934}},
		"forest":  {{0.11765561252832413}, {0.4304029941558838}, {0.883610188961029}, {0.24118351936340332}, {0.16103467345237732}, {0.883610188961029}, {0.23353731632232666}, {0.24118351936340332}},
		"multi": {
			{0.7460603713989258, 0.12812982499599457, 0.12580977380275726}, {0.12624460458755493, 0.7471746802330017, 0.12658070027828217},
			{0.7508702278137207, 0.12382061779499054, 0.12530915439128876}, {0.12490778416395187, 0.12448976933956146, 0.7506024241447449},
			{0.12624460458755493, 0.7471746802330017, 0.12658070027828217}, {0.7508702278137207, 0.12382061779499054, 0.12530915439128876},
			{0.7508702278137207, 0.12382061779499054, 0.12530915439128876}, {0.12490778416395187, 0.12448976933956146, 0.7506024241447449},
		},
	}
)

func TestXGBoostMatchesXGBoost(t *testing.T) {
	for name, want := range xgboostRef {
		t.Run(name, func(t *testing.T) {
			model := mustLoad(t, filepath.Join("testdata", "xgboost_"+name+".bin"), "xgboost")
			md := model.Metadata()
			if md.Platform != "xgboost" || md.Name != "xgboost_"+name {
				t.Errorf("metadata %+v", md)
			}
			if got, wantMD := fmt.Sprint(md.Inputs, md.Outputs), fmt.Sprintf("[{x FP32 [-1 3]}] [{y FP32 [-1 %d]}]", len(want[0])); got != wantMD {
				t.Errorf("metadata %s, want %s", got, wantMD)
			}
			closeRows(t, "FP32", predict(t, model, xgboostRows, false), want, 2e-6)
			closeRows(t, "FP64", predict(t, model, xgboostRows, true), want, 2e-6)
		})
	}
}

// TestXGBoostVersion2Layout reads a model as XGBoost 2.x writes it: like
// 1.x, but with size_leaf_vector 1 in every tree and no leaf vector.
func TestXGBoostVersion2Layout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "xgboost_binary.bin"))
	if err != nil {
		t.Fatal(err)
	}
	b = patch(b, 4+20, [2]uint32{2, 1}) // major, minor
	off := 4 + 136 + 23 + 14
	numTrees := int(binary.LittleEndian.Uint32(b[off:]))
	off += 160
	for range numTrees {
		nodes := int(binary.LittleEndian.Uint32(b[off+4:]))
		b = patch(b, off+20, int32(1))
		off += 148 + 36*nodes
	}
	model := mustLoad(t, writeNamed(t, "v2.bin", b), "xgboost")
	closeRows(t, "2.x", predict(t, model, xgboostRows, false), xgboostRef["binary"], 2e-6)

	// Vector leaves (several targets in one tree) are another matter.
	b = patch(b, 4+136+23+14+160+20, int32(3))
	if err := inference.Check(writeNamed(t, "vector.bin", b), "xgboost"); !is(err, inference.ErrUnsupported) || !strings.Contains(err.Error(), "vector leaves") {
		t.Errorf("vector leaves: %v", err)
	}
}

// xgNode is a node of a generated XGBoost tree: a split when left > 0.
type xgNode struct {
	left, right int32
	feature     uint32
	value       float32 // threshold or leaf value
	defaultLeft bool
}

// xgLegacyModel writes a model in XGBoost 0.x's binary format (no "binf",
// version 0, base_score stored as a margin, a leaf vector in each tree).
func xgLegacyModel(objective string, baseMargin float32, features uint32, groups int32, trees [][]xgNode) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	str := func(s string) { w(uint64(len(s))); b.WriteString(s) }
	w(baseMargin)
	w(features)
	w(int32(0))    // num_class
	w([31]int32{}) // contain_extra_attrs … reserved: version 0
	str(objective)
	str("gbtree")
	w(int32(len(trees))) // num_trees
	w(int32(1))          // num_roots
	w(int32(features))   // num_feature
	w(int32(0))          // pad
	w(int64(0))          // num_pbuffer
	w(groups)            // num_output_group
	w(int32(0))          // size_leaf_vector
	w([32]int32{})
	for _, tree := range trees {
		w([6]int32{1, int32(len(tree)), 0, 2, int32(features), 1}) // size_leaf_vector 1: a vector follows
		w([31]int32{})
		for i, n := range tree {
			sindex := n.feature
			if n.defaultLeft {
				sindex |= 1 << 31
			}
			cl, cr := n.left, n.right
			if cl == 0 {
				cl, cr = -1, -1
			}
			w(struct {
				Parent, CLeft, CRight int32
				SIndex                uint32
				Info                  float32
			}{int32(i) - 1, cl, cr, sindex, n.value})
		}
		w(make([]float32, 4*len(tree))) // stats
		w(uint64(2))
		w([]float32{7, 7}) // the legacy leaf vector
	}
	for i := range trees {
		w(int32(i) % groups)
	}
	return b.Bytes()
}

func TestXGBoostLegacyFormatByHand(t *testing.T) {
	// tree 0: x0 < 1 ? (x1 < 2 ? 0.5 : -0.5) : 1.25 ; missing x0 goes right, x1 left
	// tree 1: x2 < 0 ? -1 : 0.75                     ; missing goes left
	trees := [][]xgNode{
		{{left: 1, right: 2, feature: 0, value: 1}, {left: 3, right: 4, feature: 1, value: 2, defaultLeft: true}, {value: 1.25}, {value: 0.5}, {value: -0.5}},
		{{left: 1, right: 2, feature: 2, value: 0, defaultLeft: true}, {value: -1}, {value: 0.75}},
	}
	raw := func(x []float64) float64 {
		t0 := 1.25
		if !math.IsNaN(x[0]) && x[0] < 1 {
			t0 = -0.5
			if math.IsNaN(x[1]) || x[1] < 2 {
				t0 = 0.5
			}
		}
		t1 := 0.75
		if math.IsNaN(x[2]) || x[2] < 0 {
			t1 = -1
		}
		return t0 + t1
	}
	rows := [][]float64{{0, 0, 0}, {1, 2, 0}, {0.999, 1.999, -0.001}, {5, 5, 5}, {math.NaN(), math.NaN(), math.NaN()}, {0, math.NaN(), 1}}
	for _, tc := range []struct {
		objective string
		margin    float32
		link      func(float64) float64
	}{
		{"reg:squarederror", 0.5, func(v float64) float64 { return v }},
		{"binary:logistic", 0, sigmoid}, // 0.x stored logit(0.5) = 0
		{"reg:logistic", -0.25, sigmoid},
		{"count:poisson", 0.1, math.Exp},
		{"binary:logitraw", 0.3, func(v float64) float64 { return v }},
	} {
		model := mustLoad(t, writeNamed(t, "legacy.model", xgLegacyModel(tc.objective, tc.margin, 3, 1, trees)), "xgboost")
		var want [][]float64
		for _, r := range rows {
			want = append(want, []float64{tc.link(raw(r) + float64(tc.margin))})
		}
		closeRows(t, tc.objective, predict(t, model, rows, true), want, 1e-6)
	}

	// multi:softmax answers the class.
	mc := [][]xgNode{
		{{left: 1, right: 2, feature: 0, value: 1}, {value: 1}, {value: -1}},
		{{left: 1, right: 2, feature: 0, value: 2}, {value: -1}, {value: 1}},
	}
	model := mustLoad(t, writeNamed(t, "mc.model", xgLegacyModel("multi:softmax", 0.5, 1, 2, mc)), "xgboost")
	if got := fmt.Sprint(model.Metadata().Inputs, model.Metadata().Outputs); got != "[{x FP32 [-1 1]}] [{y FP32 [-1 1]}]" {
		t.Errorf("metadata %s", got)
	}
	closeRows(t, "multi:softmax", predict(t, model, [][]float64{{0}, {1.5}, {3}}, false), [][]float64{{0}, {0}, {1}}, 0)
}

// patch returns b with v written little-endian at off.
func patch(b []byte, off int, v any) []byte {
	b = bytes.Clone(b)
	var w bytes.Buffer
	_ = binary.Write(&w, binary.LittleEndian, v)
	copy(b[off:], w.Bytes())
	return b
}

func TestXGBoostRefusals(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("testdata", "xgboost_binary.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// Offsets in xgboost_binary.bin: "binf" 4, header 136, two names
	// (8+15, 8+6), gbtree param 160, then tree 0's param (148) and nodes.
	const tree0 = 4 + 136 + 23 + 14 + 160
	const nodes0 = tree0 + 148
	stump := [][]xgNode{{{left: 1, right: 2, feature: 0, value: 1}, {value: 1}, {value: 2}}}
	for _, tc := range []struct {
		name   string
		file   []byte
		want   []string
		unsupp bool
	}{
		{"JSON model", []byte(`{"learner":{"attributes":{}},"version":[1,7,4]}`), []string{"JSON", "binary model format"}, true},
		{"UBJSON model", []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{"), []string{"JSON"}, true},
		{"pickled booster", []byte("CONFIG-offset:\x10\x00\x00\x00"), []string{"serialization"}, true},
		{"gblinear", bytes.Replace(xgLegacyModel("reg:squarederror", 0, 1, 1, stump), []byte("\x06\x00\x00\x00\x00\x00\x00\x00gbtree"), []byte("\x08\x00\x00\x00\x00\x00\x00\x00gblinear"), 1), []string{"gblinear"}, true},
		{"unknown objective", xgLegacyModel("reg:wishful", 0, 1, 1, stump), []string{`"reg:wishful"`}, true},
		{"multi-target", patch(real, 4+28, uint32(2)), []string{"multi-target"}, true},
		{"cycle", patch(real, nodes0+20+4, int32(0)), []string{"tree 0", "node 1 has child 0"}, false},
		{"child out of range", patch(real, nodes0+8, int32(99)), []string{"tree 0", "child 99"}, false},
		{"feature out of range", patch(real, nodes0+12, uint32(3)), []string{"tree 0", "feature 3"}, false},
		{"too many nodes", patch(real, tree0+4, int32(1<<30)), []string{"tree 0 claims 1073741824 nodes"}, false},
		{"no nodes", patch(real, tree0+4, int32(0)), []string{"tree 0 has 0 nodes"}, false},
		{"too many trees", patch(real, 4+136+23+14, int32(1<<30)), []string{"trees"}, false},
		{"huge name", patch(real, 4+136, uint64(1<<62)), []string{"objective name"}, false},
		{"truncated", real[:len(real)/2], []string{"more than the file holds"}, false},
		{"truncated in tree_info", real[:len(real)-165-6], []string{"ends inside tree_info"}, false},
		{"truncated in a tree", real[:nodes0+20*7+16*7+148+10], []string{"tree 1 claims 5 nodes", "more than the file holds"}, false},
		{"unknown booster", bytes.Replace(real, []byte("gbtree"), []byte("gbtrex"), 1), []string{`"gbtrex"`}, false},
		{"logistic base_score out of range", patch(real, 4, float32(1.5)), []string{"base_score 1.5"}, false},
		{"an ONNX file", []byte("\x08\x07\x12\x07pytorch:\x00\x00"), []string{"ends inside"}, false},
		{"empty", nil, []string{"ends inside"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeNamed(t, "model.bin", tc.file)
			err := inference.Check(path, "xgboost")
			if err == nil {
				t.Fatal("Check accepted it")
			}
			if _, lerr := inference.Load(path, "xgboost"); lerr == nil || lerr.Error() != err.Error() {
				t.Errorf("Load says %v, Check %v", lerr, err)
			}
			want := tc.want
			if !tc.unsupp {
				want = append(want, "model.bin is not a valid xgboost model")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
			if is(err, inference.ErrUnsupported) != tc.unsupp {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v", err, !tc.unsupp)
			}
		})
	}
}

func TestXGBoostTreePrunedToItsRoot(t *testing.T) {
	// Pruning turns the root into a leaf and marks the other nodes deleted
	// without removing them; leaves only reads one-node trees as leaves.
	trees := [][]xgNode{
		{{left: 1, right: 2, feature: 0, value: 1}, {value: 1}, {value: 2}},
		{{value: 0.25}, {value: 9}, {value: 9}},
	}
	model := mustLoad(t, writeNamed(t, "pruned.model", xgLegacyModel("reg:squarederror", 0, 1, 1, trees)), "xgboost")
	closeRows(t, "pruned", predict(t, model, [][]float64{{0}, {2}}, false), [][]float64{{1.25}, {2.25}}, 1e-6)
}

// ---- both ----

func treeModels(t *testing.T) map[string]inference.Model {
	return map[string]inference.Model{
		"lightgbm": mustLoad(t, filepath.Join("testdata", "lightgbm_regression.txt"), "lightgbm"),
		"xgboost":  mustLoad(t, filepath.Join("testdata", "xgboost_multi.bin"), "xgboost"),
	}
}

func TestTreeBadRequestsAreRequestErrors(t *testing.T) {
	for format, model := range treeModels(t) {
		x := func(mod func(*apitypes.InferTensor)) []apitypes.InferTensor {
			in := apitypes.InferTensor{Name: "x", Datatype: "FP32", Shape: []int64{2, 3}, Data: []any{1.0, 2.0, 3.0, 4.0, 5.0, 6.0}}
			mod(&in)
			return []apitypes.InferTensor{in}
		}
		for _, tc := range []struct {
			name string
			req  apitypes.InferRequest
			want []string
		}{
			{"unknown input", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Name = "features" })}, []string{`"features"`, "no such input", `"x" FP32 [-1 3]`}},
			{"missing input", apitypes.InferRequest{}, []string{`"x"`, "missing", `FP32 [-1 3]`}},
			{"duplicate input", apitypes.InferRequest{Inputs: append(x(func(*apitypes.InferTensor) {}), x(func(*apitypes.InferTensor) {})...)}, []string{`"x"`, "twice"}},
			{"wrong datatype", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Datatype = "INT32" })}, []string{`"x"`, "INT32", "expects FP32 (or FP64)"}},
			{"missing datatype", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Datatype = "" })}, []string{`"x"`, "datatype is missing"}},
			{"wrong rank", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{6} })}, []string{`"x"`, "1 dimensions", "expects 2", "[-1 3]"}},
			{"wrong width", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{3, 2} })}, []string{`"x"`, "dimension 1", "[-1 3]", "3 features"}},
			{"negative dim", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{-2, 3} })}, []string{`"x"`, "invalid"}},
			{"no rows", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{0, 3}; t.Data = []any{} })}, []string{`"x"`, "no elements"}},
			{"length mismatch", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{3, 3} })}, []string{`"x"`, "6 elements", "holds 9"}},
			{"string element", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Data[2] = "3" })}, []string{`"x"`, "element 2", "string"}},
			{"unknown output", apitypes.InferRequest{Inputs: x(func(*apitypes.InferTensor) {}), Outputs: []struct {
				Name       string         `json:"name"`
				Parameters map[string]any `json:"parameters,omitempty"`
			}{{Name: "probabilities"}}}, []string{`"probabilities"`, `"y"`}},
		} {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				_, err := model.Infer(context.Background(), &tc.req)
				var re *inference.RequestError
				if !errors.As(err, &re) {
					t.Fatalf("got %v (%T), want a *RequestError", err, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%q does not mention %s", err, w)
					}
				}
			})
		}
		if _, err := model.Infer(context.Background(), nil); err == nil {
			t.Errorf("%s: nil request accepted", format)
		}
		// A good request, with the output named, after all of that.
		req := &apitypes.InferRequest{Inputs: x(func(*apitypes.InferTensor) {}), Outputs: []struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters,omitempty"`
		}{{Name: "y"}}}
		if resp, err := model.Infer(context.Background(), req); err != nil || len(resp.Outputs) != 1 || resp.Outputs[0].Name != "y" {
			t.Fatalf("%s: good request after bad ones: %v %+v", format, err, resp)
		}
	}
}

func TestTreeBatchesAcrossChunks(t *testing.T) {
	model := mustLoad(t, filepath.Join("testdata", "lightgbm_regression.txt"), "lightgbm")
	var rows, want [][]float64
	for i := range 1000 {
		r := []float64{float64(i%7) / 2, float64(i%5)/4 - 0.5, float64(i%3) / 2}
		rows = append(rows, r)
		want = append(want, []float64{lgRegression(r)})
	}
	closeRows(t, "batch", predict(t, model, rows, false), want, 1e-6)
}

func TestTreeConcurrentRuns(t *testing.T) {
	models := treeModels(t)
	lg, xg := models["lightgbm"], models["xgboost"]
	const goroutines, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				n := 1 + (g+i)%len(lgRows)
				rows := lgRows[:n]
				y := predictQuiet(lg, rows)
				for r := range rows {
					if y == nil || math.Abs(float64(y[r])-lgRegression(rows[r])) > 1e-6 {
						errs <- fmt.Errorf("lightgbm goroutine %d run %d row %d: %v", g, i, r, y)
						return
					}
				}
				xrows := xgboostRows[:n]
				y = predictQuiet(xg, xrows)
				for r := range xrows {
					for k := range 3 {
						if y == nil || math.Abs(float64(y[r*3+k])-xgboostRef["multi"][r][k]) > 2e-6 {
							errs <- fmt.Errorf("xgboost goroutine %d run %d row %d: %v", g, i, r, y)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func predictQuiet(m inference.Model, rows [][]float64) []float32 {
	var d []float32
	for _, r := range rows {
		for _, v := range r {
			d = append(d, float32(v))
		}
	}
	outs, err := m.Run(context.Background(), []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{int64(len(rows)), int64(len(rows[0]))}, Data: d}}, nil)
	if err != nil {
		return nil
	}
	return outs[0].Data.([]float32)
}

func TestTreeCanceledContext(t *testing.T) {
	for format, model := range treeModels(t) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := model.Run(ctx, []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 3}, Data: make([]float32, 3)}}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want context.Canceled", format, err)
		}
	}
}

func TestTreeFormatsRefuseEachOther(t *testing.T) {
	lgPath := filepath.Join("testdata", "lightgbm_regression.txt")
	xgPath := filepath.Join("testdata", "xgboost_binary.bin")
	onnxPath := writeNamed(t, "model.onnx", []byte("\x08\x07\x12\x07pytorch"))
	for _, tc := range []struct{ path, format, want string }{
		{lgPath, "xgboost", "lightgbm_regression.txt is not a valid xgboost model"},
		{xgPath, "lightgbm", "xgboost_binary.bin is not a valid lightgbm model"},
		{onnxPath, "lightgbm", "model.onnx is not a valid lightgbm model"},
		{onnxPath, "xgboost", "model.onnx is not a valid xgboost model"},
		{xgPath, "onnx", "not an ONNX model"},
	} {
		err := inference.Check(tc.path, tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) || is(err, inference.ErrUnsupported) {
			t.Errorf("Check(%s, %s) = %v, want %q", filepath.Base(tc.path), tc.format, err, tc.want)
		}
	}
	for _, format := range []string{"lightgbm", "xgboost"} {
		if _, err := inference.Load(filepath.Join(t.TempDir(), "absent"), format); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: missing file: %v", format, err)
		}
	}
}

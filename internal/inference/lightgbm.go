package inference

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/dmitryikh/leaves"
)

// LightGBM models come in two forms, told apart by their first byte:
//
//   - the text model that Booster.save_model writes (model format versions
//     v2 to v4: LightGBM 2.x to 4.x), the usual artifact;
//   - the JSON that Booster.dump_model writes.
//
// leaves reads both, but trusts them: a child index or feature index out of
// range panics or, worse, makes a tree loop forever at prediction time. So
// the trees are validated here first, and what leaves does not implement
// (linear trees) is refused instead of being served wrongly. The version
// check of leaves (v2/v3 for text, v2 for JSON) is met by relabelling: the
// tree layout it reads did not change in v3 and v4, which only added fields
// it ignores (and is_linear, refused here).

func loadLightGBM(path string) (m *treeModel, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	defer recoverInto(&err, path, FormatLightGBM)
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return lightGBMFromJSON(path, b)
	}
	return lightGBMFromText(path, b)
}

// lgHeader is what both forms say about the ensemble.
type lgHeader struct {
	version   string
	numClass  int
	nFeatures int
	objective string
	average   bool // a random forest: LightGBM averages its trees
}

func (h *lgHeader) check(nTrees int) (outputTransform, error) {
	switch h.version {
	case "v2", "v3", "v4":
	default:
		if strings.HasPrefix(h.version, "v") {
			return outputTransform{}, unsupported("LightGBM model format version %s is not supported by the builtin runtime, which reads v2 to v4 (LightGBM 2.x to 4.x); serve it with the process runtime", h.version)
		}
		return outputTransform{}, fmt.Errorf("model format version %q is not a LightGBM version", h.version)
	}
	if h.numClass < 1 {
		return outputTransform{}, fmt.Errorf("num_class is %d", h.numClass)
	}
	if h.nFeatures < 1 {
		return outputTransform{}, fmt.Errorf("max_feature_idx is %d", h.nFeatures-1)
	}
	if nTrees == 0 {
		return outputTransform{}, errors.New("it has no trees")
	}
	if nTrees%h.numClass != 0 {
		return outputTransform{}, fmt.Errorf("it has %d trees, not a multiple of its %d classes", nTrees, h.numClass)
	}
	return lightGBMObjective(h.objective, h.numClass)
}

// lightGBMObjective maps a LightGBM objective, as the model file spells it
// (ObjectiveFunction::ToString: "binary sigmoid:1", "multiclass
// num_class:3", "regression sqrt"…), to its ConvertOutput.
func lightGBMObjective(objective string, numClass int) (outputTransform, error) {
	fields := strings.Fields(objective)
	if len(fields) == 0 {
		return outputTransform{}, nil // trained with a custom objective: LightGBM predicts raw scores
	}
	name, sqrt := fields[0], false
	params := map[string]string{}
	for _, f := range fields[1:] {
		if f == "sqrt" {
			sqrt = true
		} else if k, v, ok := strings.Cut(f, ":"); ok {
			params[k] = v
		}
	}
	sigmoid := func() (outputTransform, error) {
		s := 1.0
		if v, ok := params["sigmoid"]; ok {
			var err error
			if s, err = strconv.ParseFloat(v, 64); err != nil || !(s > 0) {
				return outputTransform{}, fmt.Errorf("objective %q has an invalid sigmoid parameter", objective)
			}
		}
		return outputTransform{kind: linkSigmoid, scale: s}, nil
	}
	classes := func(min int) error {
		if v, ok := params["num_class"]; ok && v != strconv.Itoa(numClass) {
			return fmt.Errorf("objective %q disagrees with num_class=%d", objective, numClass)
		}
		if numClass < min {
			return fmt.Errorf("objective %q needs at least %d classes, the model has %d", objective, min, numClass)
		}
		return nil
	}
	switch name {
	case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root", "root_mean_squared_error", "rmse",
		"regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape", "mean_absolute_percentage_error":
		if sqrt {
			return outputTransform{kind: linkSignSquare}, nil
		}
		return outputTransform{}, nil
	case "poisson", "gamma", "tweedie":
		return outputTransform{kind: linkExp}, nil
	case "binary":
		if numClass != 1 {
			return outputTransform{}, fmt.Errorf("objective %q with num_class=%d", objective, numClass)
		}
		return sigmoid()
	case "multiclass", "softmax":
		if err := classes(2); err != nil {
			return outputTransform{}, err
		}
		return outputTransform{kind: linkSoftmax}, nil
	case "multiclassova", "multiclass_ova", "ova", "ovr":
		if err := classes(2); err != nil {
			return outputTransform{}, err
		}
		return sigmoid()
	case "cross_entropy", "xentropy":
		return outputTransform{kind: linkSigmoid, scale: 1}, nil
	case "cross_entropy_lambda", "xentlambda":
		return outputTransform{kind: linkLog1pExp}, nil
	case "lambdarank", "rank_xendcg", "xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart", "custom", "none":
		return outputTransform{}, nil
	}
	return outputTransform{}, unsupported("LightGBM objective %q is not known to the builtin runtime, which could not turn its raw scores into predictions; serve the model with the process runtime", objective)
}

// lgBlock is one blank-line separated block of a text model: the header or
// a tree, as key=value lines (a line without '=' is a key with no value).
type lgBlock map[string]string

type lgScanner struct {
	b   []byte
	off int
}

// next returns the next block, nil at the end of the file. offsets, when
// given, receives the byte offset of each value.
func (s *lgScanner) next(offsets map[string]int) lgBlock {
	var blk lgBlock
	for s.off < len(s.b) {
		start := s.off
		end := bytes.IndexByte(s.b[start:], '\n')
		if end < 0 {
			end = len(s.b)
		} else {
			end += start
		}
		s.off = end + 1
		raw := s.b[start:end]
		line := bytes.TrimSpace(raw)
		if len(line) == 0 {
			if blk != nil {
				return blk
			}
			continue
		}
		if blk == nil {
			blk = lgBlock{}
		}
		k, v, _ := bytes.Cut(line, []byte("="))
		blk[string(k)] = string(v)
		if offsets != nil {
			offsets[string(k)] = start + len(raw) - len(bytes.TrimLeftFunc(raw, unicode.IsSpace)) + len(k) + 1
		}
	}
	return blk
}

func lightGBMFromText(path string, b []byte) (*treeModel, error) {
	bad := func(err error) error {
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		return invalidModel(path, FormatLightGBM, err)
	}
	sc := &lgScanner{b: b}
	offsets := map[string]int{}
	hdr := sc.next(offsets)
	version, ok := hdr["version"]
	if !ok {
		return nil, bad(errors.New(`its header has no version= line (a LightGBM text model starts with "tree" and "version=v…")`))
	}
	h := lgHeader{version: version, objective: hdr["objective"], average: hdrHas(hdr, "average_output")}
	var err error
	if h.numClass, err = hdrInt(hdr, "num_class"); err != nil {
		return nil, bad(err)
	}
	if v, ok := hdr["num_tree_per_iteration"]; ok && v != hdr["num_class"] {
		return nil, unsupported("%s: LightGBM model with num_tree_per_iteration=%s and num_class=%d is not supported by the builtin runtime; serve it with the process runtime", baseName(path), v, h.numClass)
	}
	maxFeature, err := hdrInt(hdr, "max_feature_idx")
	if err != nil {
		return nil, bad(err)
	}
	h.nFeatures = maxFeature + 1
	if _, ok := hdr["tree_sizes"]; !ok {
		return nil, bad(errors.New("its header has no tree_sizes= line"))
	}
	nTrees := len(strings.Fields(hdr["tree_sizes"]))
	transform, err := h.check(nTrees)
	if err != nil {
		return nil, bad(err)
	}
	for i := range nTrees {
		blk := sc.next(nil)
		if blk == nil {
			return nil, bad(fmt.Errorf("its header lists %d trees, the file holds %d", nTrees, i))
		}
		if err := checkLGTree(blk, h.nFeatures); err != nil {
			return nil, bad(fmt.Errorf("tree %d: %w", i, err))
		}
	}

	if version == "v4" {
		at := offsets["version"]
		if !bytes.HasPrefix(b[at:], []byte("v4")) {
			return nil, bad(errors.New("cannot locate its version line"))
		}
		b = bytes.Clone(b)
		b[at+1] = '3' // see the comment at the top of the file
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(b)), false)
	if err != nil {
		return nil, bad(err)
	}
	if ens.NRawOutputGroups() != h.numClass || ens.NEstimators()*h.numClass != nTrees {
		return nil, bad(fmt.Errorf("read %d trees in %d groups, expected %d in %d", ens.NEstimators()*ens.NRawOutputGroups(), ens.NRawOutputGroups(), nTrees, h.numClass))
	}
	// leaves averages random forests read from text itself.
	return newTreeModel(path, FormatLightGBM, ens, h.nFeatures, transform)
}

func hdrHas(b lgBlock, key string) bool { _, ok := b[key]; return ok }

func hdrInt(b lgBlock, key string) (int, error) {
	v, ok := b[key]
	if !ok {
		return 0, fmt.Errorf("its header has no %s= line", key)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", key, v)
	}
	return n, nil
}

func blockInts(b lgBlock, key string, n int) ([]int64, error) {
	v, ok := b[key]
	if !ok {
		return nil, fmt.Errorf("no %s", key)
	}
	f := strings.Fields(v)
	if len(f) != n {
		return nil, fmt.Errorf("%s has %d values, expected %d", key, len(f), n)
	}
	out := make([]int64, n)
	for i, s := range f {
		x, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s value %d (%q) is not an integer", key, i, s)
		}
		out[i] = x
	}
	return out, nil
}

// checkLGTree validates what leaves indexes without checking: child and
// leaf indices, feature indices, categorical bitsets.
func checkLGTree(blk lgBlock, nFeatures int) error {
	if v, ok := blk["is_linear"]; ok && v != "0" {
		return unsupported("the model has linear trees (linear_tree=true), which the builtin runtime does not support; serve it with the process runtime")
	}
	nums, err := blockInts(blk, "num_leaves", 1)
	if err != nil {
		return err
	}
	numLeaves := int(nums[0])
	if numLeaves < 1 {
		return fmt.Errorf("num_leaves is %d", numLeaves)
	}
	cats, err := blockInts(blk, "num_cat", 1)
	if err != nil {
		return err
	}
	numCat := int(cats[0])
	if numCat < 0 {
		return fmt.Errorf("num_cat is %d", numCat)
	}
	if got := len(strings.Fields(blk["leaf_value"])); got != numLeaves {
		return fmt.Errorf("leaf_value has %d values for %d leaves", got, numLeaves)
	}
	if numLeaves == 1 {
		return nil
	}
	numNodes := numLeaves - 1
	cols := map[string][]int64{}
	for _, key := range []string{"left_child", "right_child", "split_feature", "decision_type"} {
		if cols[key], err = blockInts(blk, key, numNodes); err != nil {
			return err
		}
	}
	thresholds := strings.Fields(blk["threshold"])
	if len(thresholds) != numNodes {
		return fmt.Errorf("threshold has %d values for %d nodes", len(thresholds), numNodes)
	}
	var bounds []int64
	var catWords int
	if numCat > 0 {
		if bounds, err = blockInts(blk, "cat_boundaries", numCat+1); err != nil {
			return err
		}
		catWords = len(strings.Fields(blk["cat_threshold"]))
		for i := 1; i < len(bounds); i++ {
			if bounds[i-1] < 0 || bounds[i] < bounds[i-1] || bounds[i] > int64(catWords) {
				return fmt.Errorf("cat_boundaries %v do not fit cat_threshold's %d words", bounds, catWords)
			}
		}
	}
	left, right := cols["left_child"], cols["right_child"]
	for j := range numNodes {
		if f := cols["split_feature"][j]; f < 0 || f >= int64(nFeatures) {
			return fmt.Errorf("node %d splits on feature %d; the model has %d features", j, f, nFeatures)
		}
		if cols["decision_type"][j]&1 != 0 { // categorical: the threshold indexes cat_boundaries
			c, err := strconv.ParseFloat(thresholds[j], 64)
			if err != nil || c < 0 || c >= float64(numCat) || c != float64(int(c)) {
				return fmt.Errorf("node %d is categorical with threshold %q; the tree has %d category sets", j, thresholds[j], numCat)
			}
		}
	}
	// Every node but the root and every leaf must be the child of exactly
	// one node, all reachable from the root: then the nodes form a tree.
	nodeSeen, leafSeen := make([]bool, numNodes), make([]bool, numLeaves)
	stack := []int64{0}
	nodeSeen[0] = true
	reached := 0
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		reached++
		for _, c := range []int64{left[j], right[j]} {
			if c < 0 {
				l := ^c
				if l >= int64(numLeaves) || leafSeen[l] {
					return fmt.Errorf("node %d has leaf child %d: out of range or shared", j, l)
				}
				leafSeen[l] = true
				continue
			}
			if c >= int64(numNodes) || nodeSeen[c] {
				return fmt.Errorf("node %d has child node %d: out of range, shared or a cycle", j, c)
			}
			nodeSeen[c] = true
			stack = append(stack, c)
		}
	}
	if reached != numNodes {
		return fmt.Errorf("%d of its %d nodes are not reachable from the root", numNodes-reached, numNodes)
	}
	return nil
}

// lgJSON is the part of Booster.dump_model's JSON that is checked here.
type lgJSON struct {
	Name                string       `json:"name"`
	Version             string       `json:"version"`
	NumClass            int          `json:"num_class"`
	NumTreePerIteration int          `json:"num_tree_per_iteration"`
	MaxFeatureIdx       *int         `json:"max_feature_idx"`
	Objective           string       `json:"objective"`
	AverageOutput       bool         `json:"average_output"`
	TreeInfo            []lgJSONTree `json:"tree_info"`
}

type lgJSONTree struct {
	Root *lgJSONNode `json:"tree_structure"`
}

type lgJSONNode struct {
	SplitFeature *int            `json:"split_feature"`
	MissingType  string          `json:"missing_type"` // leaves' test for a split node
	LeafConst    json.RawMessage `json:"leaf_const"`   // linear trees only
	Left         *lgJSONNode     `json:"left_child"`
	Right        *lgJSONNode     `json:"right_child"`
}

func lightGBMFromJSON(path string, b []byte) (*treeModel, error) {
	bad := func(err error) error {
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		return invalidModel(path, FormatLightGBM, err)
	}
	var d lgJSON
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, bad(fmt.Errorf("it is JSON but not a LightGBM model dump: %w", err))
	}
	if d.Name != "tree" {
		return nil, bad(fmt.Errorf(`its "name" is %q, not "tree" (a LightGBM model dump, from Booster.dump_model, is expected)`, d.Name))
	}
	if d.MaxFeatureIdx == nil {
		return nil, bad(errors.New(`it has no "max_feature_idx"`))
	}
	if d.NumTreePerIteration != d.NumClass {
		return nil, unsupported("%s: LightGBM model with num_tree_per_iteration=%d and num_class=%d is not supported by the builtin runtime; serve it with the process runtime", baseName(path), d.NumTreePerIteration, d.NumClass)
	}
	h := lgHeader{version: d.Version, numClass: d.NumClass, nFeatures: *d.MaxFeatureIdx + 1, objective: d.Objective, average: d.AverageOutput}
	transform, err := h.check(len(d.TreeInfo))
	if err != nil {
		return nil, bad(err)
	}
	for i, t := range d.TreeInfo {
		if err := checkLGJSONTree(t.Root, h.nFeatures); err != nil {
			return nil, bad(fmt.Errorf("tree %d: %w", i, err))
		}
	}

	// leaves reads only "version":"v2" dumps.
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(b, &whole); err != nil {
		return nil, bad(err)
	}
	whole["version"] = json.RawMessage(`"v2"`)
	if b, err = json.Marshal(whole); err != nil {
		return nil, bad(err)
	}
	ens, err := leaves.LGEnsembleFromJSON(bytes.NewReader(b), false)
	if err != nil {
		return nil, bad(err)
	}
	m, err := newTreeModel(path, FormatLightGBM, ens, h.nFeatures, transform)
	if err != nil {
		return nil, bad(err)
	}
	if h.average {
		// leaves sums the trees of a dump; LightGBM averages a forest's.
		m.rawScale = 1 / float64(ens.NEstimators())
	}
	return m, nil
}

func checkLGJSONTree(root *lgJSONNode, nFeatures int) error {
	if root == nil {
		return errors.New("no tree_structure")
	}
	stack := []*lgJSONNode{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if len(n.LeafConst) > 0 {
			return unsupported("the model has linear trees (linear_tree=true), which the builtin runtime does not support; serve it with the process runtime")
		}
		if n.MissingType == "" {
			continue // a leaf
		}
		if n.SplitFeature == nil || *n.SplitFeature < 0 || *n.SplitFeature >= nFeatures {
			return fmt.Errorf("a node splits on a feature outside the model's %d", nFeatures)
		}
		if n.Left == nil || n.Right == nil {
			return errors.New("a split node lacks a child")
		}
		stack = append(stack, n.Left, n.Right)
	}
	return nil
}

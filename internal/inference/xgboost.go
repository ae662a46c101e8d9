package inference

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/dmitryikh/leaves"
)

// XGBoost models are read in XGBoost's legacy binary model format, the one
// leaves reads: what XGBoost 0.x and 1.x Booster.save_model writes for a
// file name without a .json or .ubj extension (later versions deprecate the
// format; models tested here were written by XGBoost 1.7.4, and the layout
// XGBoost 2.x writes is handled too). JSON and UBJSON models are refused as
// unsupported.
//
// The format, little-endian (XGBoost's learner.cc, gbtree_model.h and
// tree_model.cc; leaves' internal/xgbin):
//
//	"binf"                   XGBoost ≥ 1.0 only
//	LearnerModelParam        136 bytes: base_score f32, num_feature u32,
//	                         num_class i32, contain_extra_attrs i32,
//	                         contain_eval_metrics i32, major_version u32,
//	                         minor_version u32, num_target u32, …
//	objective, booster       u64 length + bytes each
//	GBTreeModelParam         160 bytes: num_trees i32, num_roots i32,
//	                         num_feature i32, pad i32, num_pbuffer i64,
//	                         num_output_group i32, size_leaf_vector i32, …
//	per tree: TreeParam      148 bytes: num_roots, num_nodes, num_deleted,
//	                         max_depth, num_feature, size_leaf_vector, …
//	          nodes          20 bytes each: parent, cleft, cright i32,
//	                         sindex u32 (feature | default-left bit 31),
//	                         info f32 (split threshold, or leaf value)
//	          stats          16 bytes each
//	          leaf vector    u64 + f32s, before 1.0 when size_leaf_vector > 0
//	tree_info                i32 per tree: its output group
//	weight_drop              dart only: u64 + f32s
//	attributes …             ignored
//
// leaves was written for XGBoost < 1.0 and trusts the file, so the model is
// validated and rewritten for it first (normalizeXGBoost):
//
//   - the "binf" magic is dropped;
//   - from 1.0 on base_score is stored as the user gave it (a probability
//     for logistic objectives) and turned into a margin by the objective;
//     before 1.0 the margin itself was stored, and leaves adds it as is. So
//     it is converted here;
//   - from 1.0 on GBTreeModelParam's num_roots and num_output_group are
//     deprecated and written as 0; leaves reads them, so they are set to 1
//     and to the learner's number of classes;
//   - XGBoost 2.x writes size_leaf_vector 1 for scalar leaves without any
//     leaf vector, which leaves would try to read; legacy leaf vectors are
//     unused by prediction. Both are dropped;
//   - XGBoost sends x left when x < threshold, leaves (LightGBM's rule) when
//     x <= threshold. Each threshold is replaced by the largest float32
//     below it, which makes the two the same for float32 features — and
//     XGBoost rounds features to float32, so FP64 inputs are rounded too;
//   - a tree pruned down to its root leaf is written as a one-node tree,
//     which leaves accepts;
//   - child indices must form a tree and split features must exist, or
//     leaves would panic or loop forever at prediction time.

const (
	xgLearnerParamSize = 136
	xgGBTreeParamSize  = 160
	xgTreeParamSize    = 148
	xgNodeSize         = 20
	xgStatSize         = 16
	xgMaxNameLen       = 1 << 10
)

var le = binary.LittleEndian

func loadXGBoost(path string) (m *treeModel, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	defer recoverInto(&err, path, FormatXGBoost)
	bad := func(err error) error {
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		return invalidModel(path, FormatXGBoost, err)
	}
	norm, info, err := normalizeXGBoost(b)
	if err != nil {
		return nil, bad(err)
	}
	ens, err := leaves.XGEnsembleFromReader(bufio.NewReader(bytes.NewReader(norm)), false)
	if err != nil {
		return nil, bad(err)
	}
	if ens.NRawOutputGroups() != info.groups {
		return nil, bad(fmt.Errorf("read %d output groups, expected %d", ens.NRawOutputGroups(), info.groups))
	}
	if m, err = newTreeModel(path, FormatXGBoost, ens, info.nFeatures, info.transform); err != nil {
		return nil, bad(err)
	}
	m.float32Features = true
	return m, nil
}

type xgInfo struct {
	nFeatures int
	groups    int
	transform outputTransform
}

// xgReader reads the binary format; the first error sticks.
type xgReader struct {
	b   []byte
	off int
	err error
}

func (r *xgReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = fmt.Errorf("it ends inside %s (at byte %d of %d)", what, r.off, len(r.b))
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

// vector reads a dmlc vector (u64 count + elements of size bytes) and
// returns it whole, count included.
func (r *xgReader) vector(size int, what string) []byte {
	start := r.off
	c := r.take(8, what)
	if r.err != nil {
		return nil
	}
	n := le.Uint64(c)
	if n > uint64(len(r.b)-r.off)/uint64(size) {
		r.err = fmt.Errorf("%s claims %d elements, more than the file holds", what, n)
		return nil
	}
	r.take(int(n)*size, what)
	return r.b[start:r.off]
}

func (r *xgReader) name(what string) string {
	v := r.vector(1, what)
	if r.err != nil {
		return ""
	}
	s := v[8:]
	if len(s) > xgMaxNameLen {
		r.err = fmt.Errorf("%s is %d bytes long", what, len(s))
		return ""
	}
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			r.err = fmt.Errorf("%s is not text", what)
			return ""
		}
	}
	return string(s)
}

func normalizeXGBoost(b []byte) ([]byte, xgInfo, error) {
	var info xgInfo
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return nil, info, unsupported("XGBoost JSON and UBJSON models are not supported by the builtin runtime, which reads only XGBoost's legacy binary model format (what XGBoost 0.x and 1.x save under a file name not ending in .json or .ubj); serve the model with the process runtime")
	}
	if bytes.HasPrefix(b, []byte("CONFIG-offset:")) || bytes.HasPrefix(b, []byte("bs64")) {
		return nil, info, unsupported("this is an XGBoost in-memory serialization (a pickled or raw Booster), not a saved model; save it with Booster.save_model, or serve it with the process runtime")
	}
	if bytes.HasPrefix(b, []byte("binf")) { // XGBoost ≥ 1.0
		b = b[4:]
	}
	r := &xgReader{b: b}
	hdr := r.take(xgLearnerParamSize, "the model header")
	objective := r.name("the objective name")
	booster := r.name("the booster name")
	if r.err != nil {
		return nil, info, r.err
	}
	baseScore := math.Float32frombits(le.Uint32(hdr[0:]))
	numFeature := le.Uint32(hdr[4:])
	numClass := int32(le.Uint32(hdr[8:]))
	major := le.Uint32(hdr[20:])
	numTarget := le.Uint32(hdr[28:])
	legacy := major == 0 // XGBoost < 1.0
	switch booster {
	case "gbtree", "dart":
	case "gblinear":
		return nil, info, unsupported("XGBoost gblinear models are not supported by the builtin runtime, which serves tree boosters (gbtree, dart); serve it with the process runtime")
	default:
		return nil, info, fmt.Errorf("booster %q is not an XGBoost booster", booster)
	}
	if numFeature == 0 || numFeature > math.MaxInt32 {
		return nil, info, fmt.Errorf("num_feature is %d", numFeature)
	}
	transform, margin, err := xgboostObjective(objective)
	if err != nil {
		return nil, info, err
	}

	out := make([]byte, 0, len(b))
	h := bytes.Clone(hdr)
	if !legacy {
		if numTarget > 1 {
			return nil, info, unsupported("XGBoost multi-target models (%d targets) are not supported by the builtin runtime; serve it with the process runtime", numTarget)
		}
		m, err := margin(baseScore)
		if err != nil {
			return nil, info, err
		}
		le.PutUint32(h[0:], math.Float32bits(m))
	}
	out = append(out, h...)
	out = append(out, r.b[xgLearnerParamSize:r.off]...) // the two names

	gp := r.take(xgGBTreeParamSize, "the gbtree parameters")
	if r.err != nil {
		return nil, info, r.err
	}
	g := bytes.Clone(gp)
	numTrees := int32(le.Uint32(gp[0:]))
	groups := int(int32(le.Uint32(gp[24:])))
	if !legacy {
		groups = max(int(numClass), 1)
		le.PutUint32(g[4:], 1)
		le.PutUint32(g[24:], uint32(groups))
	}
	if groups < 1 {
		return nil, info, fmt.Errorf("num_output_group is %d", groups)
	}
	switch multi := transform.kind == linkSoftmax || transform.kind == linkArgmax; {
	case multi && groups < 2:
		return nil, info, fmt.Errorf("objective %s with %d classes", objective, groups)
	case !multi && groups != 1:
		return nil, info, unsupported("XGBoost objective %s with %d output groups is not supported by the builtin runtime; serve it with the process runtime", objective, groups)
	}
	if numTrees < 1 {
		return nil, info, errors.New("it has no trees")
	}
	if int(numTrees) > (len(b)-r.off)/(xgTreeParamSize+xgNodeSize+xgStatSize) {
		return nil, info, fmt.Errorf("it claims %d trees, more than the file holds", numTrees)
	}
	out = append(out, g...)

	for t := range int(numTrees) {
		tp := r.take(xgTreeParamSize, "a tree's parameters")
		if r.err != nil {
			return nil, info, r.err
		}
		numNodes := int32(le.Uint32(tp[4:]))
		sizeLeafVector := int32(le.Uint32(tp[20:]))
		if numNodes < 1 {
			return nil, info, fmt.Errorf("tree %d has %d nodes", t, numNodes)
		}
		if int(numNodes) > (len(b)-r.off)/(xgNodeSize+xgStatSize) {
			return nil, info, fmt.Errorf("tree %d claims %d nodes, more than the file holds", t, numNodes)
		}
		nodes := r.take(int(numNodes)*xgNodeSize, "a tree's nodes")
		stats := r.take(int(numNodes)*xgStatSize, "a tree's node statistics")
		if legacy && sizeLeafVector > 0 {
			r.vector(4, "a tree's leaf vector")
		}
		if r.err != nil {
			return nil, info, r.err
		}
		if !legacy && sizeLeafVector > 1 {
			return nil, info, unsupported("XGBoost trees with vector leaves are not supported by the builtin runtime; serve the model with the process runtime")
		}
		nodes, stats, err := xgTree(nodes, stats, int(numNodes), numFeature)
		if err != nil {
			return nil, info, fmt.Errorf("tree %d: %w", t, err)
		}
		p := bytes.Clone(tp)
		le.PutUint32(p[20:], 0) // size_leaf_vector
		if n := len(nodes) / xgNodeSize; n != int(numNodes) {
			le.PutUint32(p[4:], uint32(n)) // num_nodes
			le.PutUint32(p[8:], 0)         // num_deleted
		}
		out = append(append(append(out, p...), nodes...), stats...)
	}

	treeInfo := r.take(int(numTrees)*4, "tree_info")
	if r.err != nil {
		return nil, info, r.err
	}
	for i := range int(numTrees) {
		if g := int32(le.Uint32(treeInfo[4*i:])); int(g) != i%groups {
			return nil, info, unsupported("XGBoost model whose trees are not grouped one per class per round (tree %d belongs to group %d; num_parallel_tree > 1 with several classes?) is not supported by the builtin runtime; serve it with the process runtime", i, g)
		}
	}
	out = append(out, treeInfo...)
	if booster == "dart" {
		out = append(out, r.vector(4, "the dart tree weights")...)
		if r.err != nil {
			return nil, info, r.err
		}
	}
	info = xgInfo{nFeatures: int(numFeature), groups: groups, transform: transform}
	return out, info, nil
}

// xgTree validates one tree's nodes and returns them rewritten for leaves
// (see the top of the file).
func xgTree(nodes, stats []byte, numNodes int, numFeature uint32) ([]byte, []byte, error) {
	nodes = bytes.Clone(nodes)
	cleft := func(i int) int32 { return int32(le.Uint32(nodes[i*xgNodeSize+4:])) }
	if cleft(0) == -1 { // the root is a leaf
		return nodes[:xgNodeSize], stats[:xgStatSize], nil
	}
	seen := make([]bool, numNodes)
	seen[0] = true
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		rec := nodes[i*xgNodeSize : (i+1)*xgNodeSize]
		if cleft(i) == -1 {
			continue // a leaf: info is its value
		}
		for _, c := range []int32{int32(le.Uint32(rec[4:])), int32(le.Uint32(rec[8:]))} {
			if c < 1 || int(c) >= numNodes || seen[c] {
				return nil, nil, fmt.Errorf("node %d has child %d: out of range, shared or a cycle", i, c)
			}
			seen[c] = true
			stack = append(stack, int(c))
		}
		if f := le.Uint32(rec[12:]) & (1<<31 - 1); f >= numFeature {
			return nil, nil, fmt.Errorf("node %d splits on feature %d; the model has %d features", i, f, numFeature)
		}
		thr := math.Float32frombits(le.Uint32(rec[16:]))
		if !math.IsNaN(float64(thr)) {
			le.PutUint32(rec[16:], math.Float32bits(math.Nextafter32(thr, float32(math.Inf(-1)))))
		}
	}
	return nodes, stats, nil
}

// xgboostObjective returns an objective's prediction transform (its
// PredTransform) and its ProbToMargin, which turns a stored base_score
// into the margin added to every raw score.
func xgboostObjective(name string) (outputTransform, func(float32) (float32, error), error) {
	identity := func(b float32) (float32, error) { return b, nil }
	logit := func(b float32) (float32, error) {
		if !(b > 0 && b < 1) {
			return 0, fmt.Errorf("base_score %v of objective %s is not a probability", b, name)
		}
		return float32(-math.Log(float64(1/b - 1))), nil
	}
	log := func(b float32) (float32, error) {
		if !(b > 0) {
			return 0, fmt.Errorf("base_score %v of objective %s is not positive", b, name)
		}
		return float32(math.Log(float64(b))), nil
	}
	switch name {
	case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror",
		"reg:quantileerror", "rank:pairwise", "rank:ndcg", "rank:map":
		return outputTransform{}, identity, nil
	case "reg:logistic", "binary:logistic":
		return outputTransform{kind: linkSigmoid, scale: 1}, logit, nil
	case "binary:logitraw":
		return outputTransform{}, logit, nil
	case "binary:hinge":
		return outputTransform{kind: linkStep}, identity, nil
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
		return outputTransform{kind: linkExp}, log, nil
	case "multi:softprob":
		return outputTransform{kind: linkSoftmax}, identity, nil
	case "multi:softmax":
		return outputTransform{kind: linkArgmax}, identity, nil
	}
	return outputTransform{}, nil, unsupported("XGBoost objective %q is not known to the builtin runtime, which could not turn its raw scores into predictions; serve the model with the process runtime", name)
}

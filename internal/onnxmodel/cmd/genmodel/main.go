// Command genmodel writes a small real ONNX model for the quick start,
// demos and benchmarks: a linear model over four inputs, or an MLP.
//
//	go run ./internal/onnxmodel/cmd/genmodel -out model.onnx [-kind linear|mlp] [-seed N]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

func main() {
	out := flag.String("out", "model.onnx", "file to write")
	kind := flag.String("kind", "linear", "linear (y = x·[1,2,3,4] + bias, 4 inputs) or mlp (32→64→64→2)")
	seed := flag.Uint64("seed", 1, "seed: the linear model's bias is seed/2, the MLP's weights are drawn from it")
	flag.Parse()

	var m *onnxmodel.MLP
	switch *kind {
	case "linear":
		m = onnxmodel.NewLinear([]float32{1, 2, 3, 4}, float32(*seed)/2)
	case "mlp":
		m = onnxmodel.NewMLP(*seed, 32, 64, 64, 2)
	default:
		fmt.Fprintf(os.Stderr, "genmodel: -kind %q is not linear or mlp\n", *kind)
		os.Exit(2)
	}
	b, err := m.Marshal()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmodel:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %s model, %d inputs, %d outputs, opset %d\n", *out, *kind, m.Inputs(), m.Outputs(), onnxmodel.Opset)
}

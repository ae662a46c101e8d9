package provider

import (
	"os"
	"strings"
)

// quietLogEnv are the log levels QuietLogsUnlessAsked sets: the SDK's, its
// protocol and framework subsystems', and the provider's own.
var quietLogEnv = []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER"}

// QuietLogsUnlessAsked turns the provider's logs off when nobody asked for
// logs, that is when no TF_LOG* variable is set: OpenTofu and Terraform then
// discard whatever a provider logs, yet the SDK and the framework would still
// format a JSON line at trace level for every step of every call and send it
// over the plugin's stderr. That was a quarter of the provider's CPU in a
// refresh of many resources. With TF_LOG (or TF_LOG_PROVIDER, or any of the
// SDK's own TF_LOG_SDK* variables) set, nothing changes. The provider's
// process calls it before serving; the environment it reads is OpenTofu's.
func QuietLogsUnlessAsked() {
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TF_LOG") && v != "" {
			return
		}
	}
	for _, k := range quietLogEnv {
		_ = os.Setenv(k, "OFF")
	}
}

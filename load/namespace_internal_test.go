package load

import "testing"

// verify_module_namespace: comma-separated names, '-' and '_' alike, '*' a prefix.
func TestVerifyModuleNamespace(t *testing.T) {
	for _, tt := range []struct {
		ns, mod string
		want    bool
	}{
		{"module:kvm", "kvm", true},
		{"module:kvm", "kvm_intel", false},
		{"module:kvm,kvm_intel", "kvm_intel", true},
		{"module:kvm*", "kvm_amd", true},
		{"module:kvm-intel", "kvm_intel", true},
		{"module:*", "anything", true},
		{"module:a,,b", "", false},
		{"PG_NS", "kvm", false},
		{"module:", "kvm", false},
	} {
		if got := verifyModuleNamespace(tt.ns, tt.mod); got != tt.want {
			t.Errorf("verifyModuleNamespace(%q, %q) = %v, want %v", tt.ns, tt.mod, got, tt.want)
		}
	}
}

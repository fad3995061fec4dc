/* KVM only where the CPU shows hardware virtualisation (virt/virt-kvm.c):
 * a software /dev/kvm (PVM) under a cpuinfo without vmx or svm means TCG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "virt/virt-internal.h"

static void flags(void **state)
{
	(void)state;
	assert_true(virt_cpuinfo_hw_virt("processor\t: 0\nflags\t\t: fpu vme de pse vmx est\nbugs\t: x\n"));
	assert_true(virt_cpuinfo_hw_virt("flags : fpu svm\n"));
	assert_true(virt_cpuinfo_hw_virt("flags\t: svm"));
	/* this machine's kind: a KVM guest with kvm_pvm, no vmx/svm */
	assert_false(virt_cpuinfo_hw_virt("processor\t: 0\nmodel name\t: AMD EPYC\n"
					  "flags\t\t: fpu sse2 hypervisor avx2 sha_ni\n"));
	/* the words elsewhere, or as parts of other flags, do not count */
	assert_false(virt_cpuinfo_hw_virt("model name\t: svm vmx\nflags\t\t: vmxx svmm avx\n"));
	assert_false(virt_cpuinfo_hw_virt("vmx flags\t: svm\n"));
	assert_false(virt_cpuinfo_hw_virt("flagsx\t: vmx\n"));
	assert_false(virt_cpuinfo_hw_virt(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

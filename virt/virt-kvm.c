/* Whether this host's guests run under KVM or TCG. libvirt offers KVM when
 * /dev/kvm opens; that is not enough: a software /dev/kvm such as PVM's
 * (kvm_pvm, nested KVM without hardware support) runs only guest kernels
 * built for it, and an ordinary guest dies there at its first MSR or
 * instruction the emulation lacks. So KVM is used only when the CPU also
 * shows hardware virtualisation to this kernel (Intel VMX, "vmx"; AMD-V,
 * "svm": the flags kvm_intel and kvm_amd need). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt/virt-internal.h"

bool virt_cpuinfo_hw_virt(const char *text)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n'), *colon;
		size_t len = end ? (size_t)(end - line) : strlen(line);

		colon = memchr(line, ':', len);
		if (colon && !strncmp(line, "flags", 5) && strspn(line + 5, " \t") == (size_t)(colon - line - 5)) {
			for (const char *w = colon + 1; w < line + len;) {
				size_t n;

				w += strspn(w, " \t");
				n = strcspn(w, " \t\n");
				if ((n == 3 && (!strncmp(w, "vmx", 3) || !strncmp(w, "svm", 3))))
					return true;
				w += n;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return false;
}

static bool host_hw_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char *text = NULL;
	size_t cap = 0;
	bool yes;

	if (!f)
		return false;
	yes = getdelim(&text, &cap, '\0', f) > 0 && virt_cpuinfo_hw_virt(text);
	free(text);
	fclose(f);
	return yes;
}

/* Without hardware virtualisation the answer is TCG, and libvirt is not
 * asked: a libvirtd's first domain capabilities probe QEMU for seconds,
 * and a move's import asks beside its stream. */
int virt_default_has_kvm(virConnectPtr conn, void *opaque, char *err, size_t errlen)
{
	char *caps;
	int ret;

	(void)opaque;
	if (!host_hw_virt())
		return 0;
	if (!(caps = virConnectGetDomainCapabilities(conn, NULL, "x86_64", "q35", NULL, 0))) {
		snprintf(err, errlen, "domain capabilities: %s", virt_lv_error());
		return -EIO;
	}
	ret = strstr(caps, "<domain>kvm</domain>") != NULL;
	free(caps);
	return ret;
}

/* SPDX-License-Identifier: LGPL-3.0-only */
/* A stand-in for libnvidia-ml.so.1, compiled by nvml_stub_test.go against
 * NVIDIA's own nvml.h (go-nvml's copy), so that the structures it fills in
 * have NVIDIA's layout and the test checks ours against them.
 *
 * NVML device 0 behaves as an H100 on driver R535:
 * NVML_FI_DEV_POWER_INSTANT answers (unsigned int, mW),
 * nvmlDeviceGetPowerUsage a different value (its 1 s average), the energy
 * counter grows 1000 mJ a call. NVML device 1 behaves as a P100 on driver
 * R470: the field call succeeds but the field says NOT_SUPPORTED, no energy
 * counter.
 * NVML_STUB_LOST=1 (read at nvmlInit) makes device 1's power read fail with
 * GPU_IS_LOST after the first call.
 *
 * NVML's index order is not PCI order here, as NVML does not promise it:
 * device 0 (the H100) is at 0000:3b:00.0 and device 1 (the P100) at
 * 0000:17:00.0, so flux-core, which numbers GPUs in PCI order, calls the
 * P100 gpu 0 and the H100 gpu 1, and so must the source.
 *
 * go-nvml's nvml.h wraps the device handle in a struct (typedef struct {
 * struct nvmlDevice_st *handle; } nvmlDevice_t) where NVIDIA's has the
 * pointer itself; both are passed alike (one pointer-sized value).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nvml.h"

struct nvmlDevice_st {
    int idx;
};

static struct nvmlDevice_st devs[2] = {{0}, {1}};

#define IDX(d) ((d).handle->idx)
static int inited;
static int lost;
static unsigned long long energy = 4015734512ULL;
static int usage_calls;

nvmlReturn_t nvmlInit_v2(void)
{
    const char *e = getenv("NVML_STUB_LOST");
    lost = e != NULL && strcmp(e, "1") == 0;
    inited++;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
    if (inited == 0)
        return NVML_ERROR_UNINITIALIZED;
    inited--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    strncpy(version, "535.104.05-stub", length);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
    if (!inited)
        return NVML_ERROR_UNINITIALIZED;
    *n = 2;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
    if (i > 1)
        return NVML_ERROR_INVALID_ARGUMENT;
    d->handle = &devs[i];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length)
{
    strncpy(name, IDX(d) == 0 ? "NVIDIA H100 80GB HBM3" : "Tesla P100-PCIE-16GB", length);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t d, nvmlDeviceArchitecture_t *a)
{
    *a = IDX(d) == 0 ? NVML_DEVICE_ARCH_HOPPER : NVML_DEVICE_ARCH_PASCAL;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p)
{
    unsigned int bus = IDX(d) == 0 ? 0x3b : 0x17;

    memset(p, 0x5a, sizeof *p);
    /* as NVML writes them: busId with an 8-digit domain, upper case */
    snprintf(p->busIdLegacy, sizeof p->busIdLegacy, "0000:%02X:00.0", bus);
    snprintf(p->busId, sizeof p->busId, "00000000:%02X:00.0", bus);
    p->domain = 0;
    p->bus = bus;
    p->device = 0;
    p->pciDeviceId = IDX(d) == 0 ? 0x233010de : 0x15f810de;
    p->pciSubSystemId = 0x16c110de;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int n, nvmlFieldValue_t *v)
{
    for (int i = 0; i < n; i++) {
        v[i].timestamp = 1759829920623626LL;
        v[i].latencyUsec = 3;
        if (v[i].fieldId != NVML_FI_DEV_POWER_INSTANT || v[i].scopeId != 0) {
            v[i].nvmlReturn = NVML_ERROR_INVALID_ARGUMENT;
            continue;
        }
        if (IDX(d) == 1) {
            v[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            continue;
        }
        v[i].nvmlReturn = NVML_SUCCESS;
        v[i].valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
        v[i].value.ullVal = 0xffffffff00000000ULL; /* garbage above the uint */
        v[i].value.uiVal = 612345;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
    if (IDX(d) == 1) {
        if (lost && usage_calls++ > 0)
            return NVML_ERROR_GPU_IS_LOST;
        *mw = 180500;
        return NVML_SUCCESS;
    }
    *mw = 350000;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj)
{
    if (IDX(d) == 1)
        return NVML_ERROR_NOT_SUPPORTED;
    energy += 1000;
    *mj = energy;
    return NVML_SUCCESS;
}

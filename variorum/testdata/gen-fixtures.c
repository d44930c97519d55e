/* SPDX-License-Identifier: LGPL-3.0-only */
// gen-fixtures.c writes the Variorum power JSON fixtures in this folder.
//
// Not part of any build. Each function below repeats, call for call, the
// jansson calls that the cited Variorum function makes (same keys, same
// insertion order, same json_real/json_integer types, same json_dumps flags),
// with fixed sensor readings and timestamps in place of the hardware, so the
// fixtures are byte for byte what that Variorum version prints. See README.md.
//
// Regenerate (needs libjansson-dev):
//   cd variorum/testdata && cc -o /tmp/gen-fixtures gen-fixtures.c -ljansson && /tmp/gen-fixtures

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void write_fixture(const char *name, json_t *obj, size_t flags)
{
    char *s = json_dumps(obj, flags);
    FILE *f = fopen(name, "w");
    if (s == NULL || f == NULL)
    {
        perror(name);
        exit(1);
    }
    fputs(s, f);
    fputc('\n', f); // the examples puts() the string
    fclose(f);
    free(s);
    json_decref(obj);
}

// ---------------------------------------------------------------------------
// v0.6.0 / v0.7.0: flat keys, "host" and "timestamp", json_dumps(obj, 0).

// Intel: v0.6.0 src/variorum/Intel/power_features.c json_get_power_data,
// v0.7.0 src/variorum/Intel/intel_power_features.c json_get_power_data,
// called from fm_06_XX_get_node_power_json.
static json_t *flat_intel(const char *host, uint64_t ts, int nsockets,
                          const double *pkg, const double *dram)
{
    json_t *o = json_object();
    double node_power = 0.0;
    char sockID[12];
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "timestamp", json_integer(ts));
    for (int i = 0; i < nsockets; i++)
    {
        char cpu_str[36] = "power_cpu_watts_socket_";
        char mem_str[36] = "power_mem_watts_socket_";
        char gpu_str[36] = "power_gpu_watts_socket_";
        snprintf(sockID, 11, "%d", i);
        strcat(cpu_str, sockID);
        strcat(mem_str, sockID);
        strcat(gpu_str, sockID);
        json_object_set_new(o, cpu_str, json_real(pkg[i]));
        json_object_set_new(o, mem_str, json_real(dram[i]));
        json_object_set_new(o, gpu_str, json_real(-1.0));
        node_power += pkg[i] + dram[i];
    }
    json_object_set_new(o, "power_node_watts", json_real(node_power));
    return o;
}

// IBM Power9: v0.6.0 src/variorum/IBM/Power9.c p9_get_node_power_json +
// src/variorum/IBM/ibm_sensors.c json_get_power_sensors (v0.7.0: renamed
// ibm_cpu_p9_get_node_power_json, ibm_power_features.c, same code).
static json_t *flat_ibm(const char *host, uint64_t ts, int nsockets,
                        uint64_t pwrsys, const uint64_t *pwrproc,
                        const uint64_t *pwrmem, const uint64_t *pwrgpu)
{
    json_t *o = json_object();
    char sockID[4];
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "timestamp", json_integer(ts));
    for (int chipid = 0; chipid < nsockets; chipid++)
    {
        char cpu_str[36] = "power_cpu_watts_socket_";
        char mem_str[36] = "power_mem_watts_socket_";
        char gpu_str[36] = "power_gpu_watts_socket_";
        sprintf(sockID, "%d", chipid);
        strcat(cpu_str, sockID);
        strcat(mem_str, sockID);
        strcat(gpu_str, sockID);
        if (chipid == 0)
        {
            json_object_set_new(o, "power_node_watts", json_real(pwrsys));
        }
        json_object_set_new(o, cpu_str, json_real(pwrproc[chipid]));
        json_object_set_new(o, mem_str, json_real(pwrmem[chipid]));
        json_object_set_new(o, gpu_str, json_real(pwrgpu[chipid]));
    }
    return o;
}

// ARM Juno r2: v0.6.0 src/variorum/ARM/power_features.c json_get_power_data
// (from ARM.c arm_get_power_json), v0.7.0 src/variorum/ARM/
// juno_r2_power_features.c arm_cpu_juno_r2_json_get_power_data. Values in uW.
static json_t *flat_juno(const char *host, uint64_t ts, uint64_t sys_power_val,
                         uint64_t big_power_val, uint64_t little_power_val,
                         uint64_t gpu_power_val)
{
    json_t *o = json_object();
    char sockID[4];
    unsigned m_num_package = 2;
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "timestamp", json_integer(ts));
    for (int i = 0; i < (int)m_num_package; i++)
    {
        char mem_str[36] = "power_mem_watts_socket_";
        char gpu_str[36] = "power_gpu_watts_socket_";
        sprintf(sockID, "%d", i);
        strcat(mem_str, sockID);
        strcat(gpu_str, sockID);
        json_object_set_new(o, mem_str, json_real(-1.0));
        json_object_set_new(o, gpu_str, json_real(-1.0));
    }
    json_object_set_new(o, "power_node_watts",
                        json_real((double)(sys_power_val) / 1000000.0f));
    json_object_set_new(o, "power_cpu_watts_socket_0",
                        json_real((double)(big_power_val) / 1000000.0f));
    json_object_set_new(o, "power_cpu_watts_socket_1",
                        json_real((double)(little_power_val) / 1000000.0f));
    json_object_set_new(o, "power_gpu_watts_socket_0",
                        json_real((double)(gpu_power_val) / 1000000.0f));
    return o;
}

// AMD EPYC: v0.7.0 src/variorum/AMD/epyc.c amd_cpu_epyc_get_node_power_json.
// current_power from esmi_socket_power_get, in mW.
static json_t *flat_epyc(const char *host, uint64_t ts, int nsockets,
                         const uint32_t *current_power)
{
    json_t *o = json_object();
    double node_power = 0.0;
    char sockID[12];
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "timestamp", json_integer(ts));
    for (int i = 0; i < nsockets; i++)
    {
        char cpu_str[36] = "power_cpu_watts_socket_";
        char mem_str[36] = "power_mem_watts_socket_";
        char gpu_str[36] = "power_gpu_watts_socket_";
        snprintf(sockID, 12, "%d", i);
        strcat(cpu_str, sockID);
        strcat(mem_str, sockID);
        strcat(gpu_str, sockID);
        json_object_set_new(o, cpu_str,
                            json_real((double)current_power[i] / 1000));
        json_object_set_new(o, gpu_str, json_real(-1.0));
        json_object_set_new(o, mem_str, json_real(-1.0));
        node_power += ((double)current_power[i] / 1000);
    }
    json_object_set_new(o, "power_node_watts", json_real(node_power));
    return o;
}

// ARM Neoverse N1: v0.7.0 src/variorum/ARM/neoverse_N1_power_features.c
// arm_cpu_neoverse_n1_json_get_power_data. Values in uW. No node power, and
// CPU power is not per socket.
static json_t *flat_neoverse(const char *host, uint64_t ts,
                             uint64_t cpu_power_val, uint64_t io_power_val)
{
    json_t *o = json_object();
    char sockID[4];
    unsigned m_num_package = 1;
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "timestamp", json_integer(ts));
    for (int i = 0; i < (int)m_num_package; i++)
    {
        char mem_str[36] = "power_mem_watts_socket_";
        char gpu_str[36] = "power_gpu_watts_socket_";
        sprintf(sockID, "%d", i);
        strcat(mem_str, sockID);
        strcat(gpu_str, sockID);
        json_object_set_new(o, mem_str, json_real(-1.0));
        json_object_set_new(o, gpu_str, json_real(-1.0));
    }
    json_object_set_new(o, "power_cpu_watts",
                        json_real((double)(cpu_power_val) / 1000000.0f));
    json_object_set_new(o, "power_io_watts",
                        json_real((double)(io_power_val) / 1000000.0f));
    return o;
}

// ---------------------------------------------------------------------------
// v0.8.0: src/variorum/variorum.c variorum_get_power_json makes
// {hostname: node_obj}, sets "timestamp", then calls every compiled-in
// platform's variorum_get_power_json(node_obj) in platform index order
// (Intel CPU, Intel GPU, AMD CPU, AMD GPU, IBM CPU, NVIDIA GPU, ARM CPU), and
// prints it with json_dumps(obj, JSON_INDENT(4)).

static json_t *v08_node(json_t **root, const char *hostname, uint64_t ts)
{
    json_t *get_power_obj = json_object();
    json_t *node_obj = json_object();
    json_object_set_new(get_power_obj, hostname, node_obj);
    json_object_set_new(node_obj, "timestamp", json_integer(ts));
    *root = get_power_obj;
    return node_obj;
}

// src/variorum/Intel/intel_power_features.c json_get_power_data.
static void v08_intel(json_t *o, int nsockets, const double *pkg,
                      const double *dram)
{
    double node_power = 0.0;
    for (int i = 0; i < nsockets; i++)
    {
        char socketid[12];
        snprintf(socketid, 12, "socket_%d", i);
        json_t *socket_obj = json_object();
        json_object_set_new(o, socketid, socket_obj);
        json_object_set_new(socket_obj, "power_cpu_watts", json_real(pkg[i]));
        json_object_set_new(socket_obj, "power_mem_watts", json_real(dram[i]));
        node_power += pkg[i] + dram[i];
    }
    json_object_set_new(o, "power_node_watts", json_real(node_power));
}

// src/variorum/IBM/ibm_power_features.c json_get_power_sensors, per chip.
static void v08_ibm(json_t *o, int nsockets, uint64_t pwrsys,
                    const uint64_t *pwrproc, const uint64_t *pwrmem)
{
    for (int chipid = 0; chipid < nsockets; chipid++)
    {
        char socketID[12];
        snprintf(socketID, 12, "socket_%d", chipid);
        if (chipid == 0)
        {
            json_object_set_new(o, "power_node_watts", json_real(pwrsys));
        }
        json_t *socket_obj = json_object();
        json_object_set_new(o, socketID, socket_obj);
        json_object_set_new(socket_obj, "power_cpu_watts",
                            json_real(pwrproc[chipid]));
        json_object_set_new(socket_obj, "power_mem_watts",
                            json_real(pwrmem[chipid]));
    }
}

// src/variorum/AMD/epyc.c amd_cpu_epyc_get_power_json. mW.
static void v08_epyc(json_t *o, int nsockets, const uint32_t *current_power)
{
    double node_power = 0.0;
    for (int i = 0; i < nsockets; i++)
    {
        char sockID[12];
        snprintf(sockID, 12, "socket_%d", i);
        json_t *socket_obj = json_object();
        json_object_set_new(o, sockID, socket_obj);
        json_object_set_new(socket_obj, "power_cpu_watts",
                            json_real((double)current_power[i] / 1000));
        json_object_set_new(socket_obj, "power_mem_watts", json_real(-1.0));
        node_power += ((double)current_power[i] / 1000);
    }
    json_object_set_new(o, "power_node_watts", json_real(node_power));
}

// src/variorum/Nvidia_GPU/Volta.c volta_get_power_json ->
// nvidia_gpu_get_power_json(chipid, node_obj) per socket. gpu_power in mW
// from nvmlDeviceGetPowerUsage. ibm: built with VARIORUM_WITH_IBM_CPU, which
// leaves power_node_watts alone.
static void v08_nvidia(json_t *o, int nsockets, unsigned m_gpus_per_socket,
                       const unsigned *gpu_power_mw, int ibm)
{
    for (int chipid = 0; chipid < nsockets; chipid++)
    {
        double value = 0.0;
        double total_gpu_power = 0.0;
        char devID[24];
        char socket_id[12];
        snprintf(socket_id, 12, "socket_%d", chipid);
        json_object_set_new(o, "num_gpus_per_socket",
                            json_integer(m_gpus_per_socket));
        json_t *socket_obj = json_object_get(o, socket_id);
        if (socket_obj == NULL)
        {
            socket_obj = json_object();
            json_object_set_new(o, socket_id, socket_obj);
        }
        json_t *gpu_obj = json_object();
        json_object_set_new(socket_obj, "power_gpu_watts", gpu_obj);
        for (int d = chipid * (int)m_gpus_per_socket;
             d < (chipid + 1) * (int)m_gpus_per_socket; ++d)
        {
            unsigned int gpu_power = gpu_power_mw[d];
            value = (double)gpu_power * 0.001f;
            snprintf(devID, 24, "GPU_%d", d);
            json_object_set_new(gpu_obj, devID, json_real(value));
            total_gpu_power += value;
        }
        if (!ibm && json_object_get(o, "power_node_watts") != NULL)
        {
            double power_node = json_real_value(json_object_get(o,
                                                "power_node_watts"));
            json_object_set(o, "power_node_watts",
                            json_real(power_node + total_gpu_power));
        }
    }
}

// src/variorum/AMD_GPU/amd_gpu_power_features.c get_json_power_data
// (from instinctGPU.c amd_gpu_instinct_get_power_json). pwr_val in uW from
// rsmi_dev_power_get, converted with integer division.
static void v08_amd_gpu(json_t *o, int total_sockets, uint32_t num_devices,
                        const uint64_t *pwr_uw)
{
    int gpus_per_socket = num_devices / total_sockets;
    double total_gpu_power = 0.0;
    json_object_set_new(o, "num_gpus_per_socket",
                        json_integer(gpus_per_socket));
    for (int chipid = 0; chipid < total_sockets; chipid++)
    {
        char devID[24];
        char socketID[24];
        snprintf(socketID, 24, "socket_%d", chipid);
        json_t *socket_obj = json_object_get(o, socketID);
        if (socket_obj == NULL)
        {
            socket_obj = json_object();
            json_object_set_new(o, socketID, socket_obj);
        }
        json_t *gpu_obj = json_object();
        json_object_set_new(socket_obj, "power_gpu_watts", gpu_obj);
        for (int d = chipid * gpus_per_socket;
             d < (chipid + 1) * gpus_per_socket; ++d)
        {
            uint64_t pwr_val = pwr_uw[d];
            double pwr_val_flt = (double)(pwr_val / (1000 * 1000));
            snprintf(devID, 24, "GPU_%d", d);
            json_object_set_new(gpu_obj, devID, json_real(pwr_val_flt));
            total_gpu_power += pwr_val_flt;
        }
    }
    if (json_object_get(o, "power_node_watts") != NULL)
    {
        double power_node = json_real_value(json_object_get(o,
                                            "power_node_watts"));
        json_object_set(o, "power_node_watts",
                        json_real(power_node + total_gpu_power));
    }
}

// src/variorum/ARM/juno_r2_power_features.c
// arm_cpu_juno_r2_json_get_power_data. uW.
static void v08_juno(json_t *o, uint64_t sys_power_val, uint64_t big_power_val,
                     uint64_t little_power_val, uint64_t gpu_power_val)
{
    unsigned m_num_package = 2;
    for (int i = 0; i < (int)m_num_package; i++)
    {
        char socketID[12];
        snprintf(socketID, 12, "socket_%d", i);
        json_t *socket_obj = json_object();
        json_object_set_new(o, socketID, socket_obj);
        if (i != 0)
        {
            json_object_set_new(socket_obj, "power_gpu_watts", json_real(-1.0));
        }
    }
    json_t *socket_0_obj = json_object_get(o, "socket_0");
    json_t *socket_1_obj = json_object_get(o, "socket_1");
    json_object_set_new(o, "power_node_watts",
                        json_real((double)(sys_power_val) / 1000000.0f));
    json_object_set_new(o, "num_gpus_per_socket", json_integer(-1));
    json_object_set_new(socket_0_obj, "power_cpu_watts",
                        json_real((double)(big_power_val) / 1000000.0f));
    json_object_set_new(socket_1_obj, "power_cpu_watts",
                        json_real((double)(little_power_val) / 1000000.0f));
    json_object_set_new(socket_0_obj, "power_gpu_watts",
                        json_real((double)(gpu_power_val) / 1000000.0f));
}

// src/variorum/ARM/neoverse_N1_power_features.c
// arm_cpu_neoverse_n1_json_get_power_data. It makes "Socket_%d" objects but
// then looks up "socket_0", gets NULL, and jansson drops both values.
static void v08_neoverse(json_t *o, uint64_t cpu_power_val,
                         uint64_t io_power_val)
{
    unsigned m_num_package = 1;
    for (int i = 0; i < (int)m_num_package; i++)
    {
        char socketID[12];
        snprintf(socketID, 12, "Socket_%d", i);
        json_t *socket_obj = json_object();
        json_object_set_new(o, socketID, socket_obj);
        json_object_set_new(socket_obj, "power_mem_watts", json_real(-1.0));
    }
    json_t *socket_0_obj = json_object_get(o, "socket_0");
    json_object_set_new(socket_0_obj, "power_cpu_watts",
                        json_real((double)(cpu_power_val) / 1000000.0f));
    json_object_set_new(socket_0_obj, "power_io_watts",
                        json_real((double)(io_power_val) / 1000000.0f));
}

int main(void)
{
    json_t *root, *node;

    // ---- v0.6.0
    {
        double pkg[] = {82.471923828125, 76.20538330078125};
        double dram[] = {11.3853759765625, 9.6580810546875};
        write_fixture("v0.6.0-intel.json",
                      flat_intel("quartz1234", 1654041600123456ULL, 2, pkg, dram), 0);
    }
    {
        uint64_t proc[] = {186, 171}, mem[] = {42, 38}, gpu[] = {302, 288};
        write_fixture("v0.6.0-ibm-power9.json",
                      flat_ibm("lassen708", 1654041601234567ULL, 2, 1162, proc, mem, gpu), 0);
    }
    write_fixture("v0.6.0-arm-juno-r2.json",
                  flat_juno("juno-r2", 1654041602345678ULL, 4218367, 1094221, 265113, 312877), 0);

    // ---- v0.7.0
    {
        double pkg[] = {141.52178955078125, 129.0487060546875};
        double dram[] = {23.9110107421875, 21.36016845703125};
        write_fixture("v0.7.0-intel.json",
                      flat_intel("ruby1022", 1680307200456789ULL, 2, pkg, dram), 0);
    }
    {
        uint32_t cur[] = {143217, 138904};
        write_fixture("v0.7.0-amd-epyc.json",
                      flat_epyc("corona171", 1680307201567890ULL, 2, cur), 0);
    }
    {
        uint64_t proc[] = {174, 165}, mem[] = {39, 41}, gpu[] = {263, 251};
        write_fixture("v0.7.0-ibm-power9.json",
                      flat_ibm("lassen12", 1680307202678901ULL, 2, 1047, proc, mem, gpu), 0);
    }
    write_fixture("v0.7.0-arm-juno-r2.json",
                  flat_juno("juno-r2", 1680307203789012ULL, 4302881, 1187002, 254987, 402113), 0);
    write_fixture("v0.7.0-arm-neoverse-n1.json",
                  flat_neoverse("altra01", 1680307204890123ULL, 87453125, 21640625), 0);

    // ---- v0.8.0
    {
        double pkg[] = {97.2354736328125, 88.61126708984375};
        double dram[] = {14.10260009765625, 12.8721923828125};
        node = v08_node(&root, "ruby1022", 1711468954123456ULL);
        v08_intel(node, 2, pkg, dram);
        write_fixture("v0.8.0-intel.json", root, JSON_INDENT(4));
    }
    {
        double pkg[] = {104.8218994140625, 95.37615966796875};
        double dram[] = {16.75128173828125, 15.0240478515625};
        unsigned gpu[] = {41234, 39876, 62018, 38551};
        node = v08_node(&root, "pascal17", 1711468955234567ULL);
        v08_intel(node, 2, pkg, dram);
        v08_nvidia(node, 2, 2, gpu, 0);
        write_fixture("v0.8.0-intel-nvidia.json", root, JSON_INDENT(4));
    }
    {
        uint32_t cur[] = {187532, 179011};
        node = v08_node(&root, "corona171", 1711468956345678ULL);
        v08_epyc(node, 2, cur);
        write_fixture("v0.8.0-amd-epyc.json", root, JSON_INDENT(4));
    }
    {
        uint32_t cur[] = {211843};
        uint64_t gpu[] = {91482113, 88012457, 274331902, 269870215,
                          90213644, 89117830, 102998741, 97004316
                         };
        node = v08_node(&root, "tioga18", 1711468957456789ULL);
        v08_epyc(node, 1, cur);
        v08_amd_gpu(node, 1, 8, gpu);
        write_fixture("v0.8.0-amd-epyc-instinct.json", root, JSON_INDENT(4));
    }
    {
        uint64_t proc[] = {181, 169}, mem[] = {44, 40};
        node = v08_node(&root, "lassen708", 1711468958567890ULL);
        v08_ibm(node, 2, 611, proc, mem);
        write_fixture("v0.8.0-ibm-power9.json", root, JSON_INDENT(4));
    }
    {
        uint64_t proc[] = {192, 176}, mem[] = {46, 43};
        unsigned gpu[] = {52114, 49870, 243993, 61207};
        node = v08_node(&root, "lassen708", 1711468959678901ULL);
        v08_ibm(node, 2, 1204, proc, mem);
        v08_nvidia(node, 2, 2, gpu, 1);
        write_fixture("v0.8.0-ibm-power9-nvidia.json", root, JSON_INDENT(4));
    }
    {
        unsigned gpu[] = {38211, 37765, 40120, 39004};
        node = v08_node(&root, "pascal17", 1711468960789012ULL);
        v08_nvidia(node, 2, 2, gpu, 0);
        write_fixture("v0.8.0-nvidia.json", root, JSON_INDENT(4));
    }
    node = v08_node(&root, "juno-r2", 1711468961890123ULL);
    v08_juno(node, 4276114, 1150326, 261744, 356218);
    write_fixture("v0.8.0-arm-juno-r2.json", root, JSON_INDENT(4));

    node = v08_node(&root, "altra01", 1711468962901234ULL);
    v08_neoverse(node, 91250000, 22750000);
    write_fixture("v0.8.0-arm-neoverse-n1.json", root, JSON_INDENT(4));
    return 0;
}

//go:build cgo

package source

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// Types and layouts from nvml.h (go-nvml v0.13.0-1, pkg/nvml/nvml.h).
typedef int pm_nvmlReturn_t;
typedef void *pm_nvmlDevice_t;

typedef struct {
	unsigned int fieldId;
	unsigned int scopeId;
	long long timestamp;
	long long latencyUsec;
	int valueType;
	pm_nvmlReturn_t nvmlReturn;
	union {
		double dVal;
		unsigned long long ullVal;
		unsigned char raw[8];
	} value;
} pm_nvmlFieldValue_t;

typedef struct {
	char busIdLegacy[16];
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId;
	unsigned int pciSubSystemId;
	char busId[32];
} pm_nvmlPciInfo_t;

// pm_nvml_open loads the library; on failure *err is a malloc'd copy of
// dlerror(), read in the same C call.
static void *pm_nvml_open(const char *name, char **err)
{
	void *h;
	const char *e;

	*err = NULL;
	dlerror();
	h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		e = dlerror();
		*err = strdup(e != NULL ? e : "dlopen failed");
	}
	return h;
}

static void *pm_nvml_sym(void *h, const char *name)
{
	return dlsym(h, name);
}

static int pm_nvml_close(void *h) { return dlclose(h); }

static int pm_nvml_call0(void *fn)
{
	return ((pm_nvmlReturn_t (*)(void))fn)();
}

static const char *pm_nvml_errstr(void *fn, int r)
{
	return ((const char *(*)(pm_nvmlReturn_t))fn)(r);
}

static int pm_nvml_count(void *fn, unsigned int *n)
{
	return ((pm_nvmlReturn_t (*)(unsigned int *))fn)(n);
}

static int pm_nvml_handle(void *fn, unsigned int i, pm_nvmlDevice_t *d)
{
	return ((pm_nvmlReturn_t (*)(unsigned int, pm_nvmlDevice_t *))fn)(i, d);
}

static int pm_nvml_str(void *fn, pm_nvmlDevice_t d, char *buf, unsigned int len)
{
	return ((pm_nvmlReturn_t (*)(pm_nvmlDevice_t, char *, unsigned int))fn)(d, buf, len);
}

static int pm_nvml_sysstr(void *fn, char *buf, unsigned int len)
{
	return ((pm_nvmlReturn_t (*)(char *, unsigned int))fn)(buf, len);
}

static int pm_nvml_uint(void *fn, pm_nvmlDevice_t d, unsigned int *v)
{
	return ((pm_nvmlReturn_t (*)(pm_nvmlDevice_t, unsigned int *))fn)(d, v);
}

static int pm_nvml_ull(void *fn, pm_nvmlDevice_t d, unsigned long long *v)
{
	return ((pm_nvmlReturn_t (*)(pm_nvmlDevice_t, unsigned long long *))fn)(d, v);
}

static int pm_nvml_pci(void *fn, pm_nvmlDevice_t d, unsigned int *id)
{
	pm_nvmlPciInfo_t p;
	pm_nvmlReturn_t r;

	memset(&p, 0, sizeof p);
	r = ((pm_nvmlReturn_t (*)(pm_nvmlDevice_t, pm_nvmlPciInfo_t *))fn)(d, &p);
	*id = p.pciDeviceId;
	return r;
}

static int pm_nvml_fields(void *fn, pm_nvmlDevice_t d, int n, pm_nvmlFieldValue_t *f)
{
	return ((pm_nvmlReturn_t (*)(pm_nvmlDevice_t, int, pm_nvmlFieldValue_t *))fn)(d, n, f);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

const nvmlLibName = "libnvidia-ml.so.1"

// OpenNVML loads libnvidia-ml.so.1, initialises NVML and probes every GPU.
// It fails with "nvml: cannot load libnvidia-ml.so.1: ..." where the library
// is missing and "nvml: no NVIDIA GPU" where it finds no device.
//
// The library is opened with dlopen and its functions found with dlsym, not
// through go-nvml's bindings: those leave every NVML function (about 400) an
// undefined symbol of the binary, to be bound lazily once go-nvml has
// dlopen'd the library with RTLD_GLOBAL. flux-broker loads modules with
// RTLD_NOW (src/broker/module_dso.c), which binds every symbol at load time:
// a module linked with go-nvml does not load at all, GPU or not ("undefined
// symbol: nvmlSystemGetCudaDriverVersion_v2"; NVIDIA/go-nvml#131, #33). The
// names, types and struct layouts here are go-nvml's nvml.h.
func OpenNVML() (*NVML, error) {
	return openNVML(&dlNVML{path: nvmlLibName})
}

// dlNVML is libnvidia-ml.so.1 behind nvmlLib.
type dlNVML struct {
	path string // what dlopen is given
	h    unsafe.Pointer
	fns  map[string]unsafe.Pointer // found symbols
}

// nvmlSymbols are the functions used, each with older names to fall back on.
var nvmlSymbols = [][]string{
	{"nvmlInit_v2", "nvmlInit"},
	{"nvmlShutdown"},
	{"nvmlErrorString"},
	{"nvmlSystemGetDriverVersion"},
	{"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"},
	{"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"},
	{"nvmlDeviceGetName"},
	{"nvmlDeviceGetArchitecture"},
	{"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2"},
	{"nvmlDeviceGetFieldValues"},
	{"nvmlDeviceGetPowerUsage"},
	{"nvmlDeviceGetTotalEnergyConsumption"},
}

// nvmlRequired are the functions without which nothing can be read.
var nvmlRequired = []string{"nvmlInit", "nvmlShutdown", "nvmlErrorString", "nvmlDeviceGetCount",
	"nvmlDeviceGetHandleByIndex", "nvmlDeviceGetPowerUsage"}

func (g *dlNVML) Init() error {
	name := C.CString(g.path)
	defer C.free(unsafe.Pointer(name))
	var cerr *C.char
	h := C.pm_nvml_open(name, &cerr)
	if h == nil {
		msg := C.GoString(cerr)
		C.free(unsafe.Pointer(cerr))
		return &nvmlLoadError{detail: msg}
	}
	g.h = h
	g.fns = map[string]unsafe.Pointer{}
	for _, names := range nvmlSymbols {
		for _, n := range names {
			cn := C.CString(n)
			p := C.pm_nvml_sym(h, cn)
			C.free(unsafe.Pointer(cn))
			if p != nil {
				// Known by its first (current) name, and by its plain name.
				g.fns[names[0]] = p
				g.fns[trimVersion(names[0])] = p
				break
			}
		}
	}
	for _, n := range nvmlRequired {
		if g.fns[n] == nil {
			g.close()
			return fmt.Errorf("%s has no %s", nvmlLibName, n)
		}
	}
	if r := nvmlReturn(C.pm_nvml_call0(g.fns["nvmlInit"])); r != nvmlSuccess {
		err := g.err(r)
		g.close()
		return err
	}
	return nil
}

// trimVersion drops a _vN suffix.
func trimVersion(name string) string {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '_' && i+2 <= len(name) && name[i+1] == 'v' {
			return name[:i]
		}
	}
	return name
}

func (g *dlNVML) close() {
	if g.h != nil {
		C.pm_nvml_close(g.h)
		g.h, g.fns = nil, nil
	}
}

func (g *dlNVML) Shutdown() error {
	if g.h == nil {
		return nil
	}
	err := g.err(nvmlReturn(C.pm_nvml_call0(g.fns["nvmlShutdown"])))
	g.close()
	return err
}

func (g *dlNVML) err(r nvmlReturn) error {
	if r == nvmlSuccess {
		return nil
	}
	return &nvmlError{code: r, msg: g.ErrorString(r)}
}

func (g *dlNVML) ErrorString(r nvmlReturn) string {
	if fn := g.fns["nvmlErrorString"]; fn != nil {
		if s := C.pm_nvml_errstr(fn, C.int(r)); s != nil {
			return C.GoString(s)
		}
	}
	return fmt.Sprintf("NVML error %d", r)
}

func (g *dlNVML) HasSymbol(name string) bool { return g.fns[name] != nil }

// DriverVersion is nvmlSystemGetDriverVersion ("" when unknown).
func (g *dlNVML) DriverVersion() string {
	fn := g.fns["nvmlSystemGetDriverVersion"]
	if fn == nil {
		return ""
	}
	var buf [96]C.char
	if C.pm_nvml_sysstr(fn, &buf[0], C.uint(len(buf))) != 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

func (g *dlNVML) DeviceCount() (int, error) {
	var n C.uint
	r := nvmlReturn(C.pm_nvml_count(g.fns["nvmlDeviceGetCount"], &n))
	return int(n), g.err(r)
}

func (g *dlNVML) Device(i int) (nvmlDev, error) {
	var d C.pm_nvmlDevice_t
	if r := nvmlReturn(C.pm_nvml_handle(g.fns["nvmlDeviceGetHandleByIndex"], C.uint(i), &d)); r != nvmlSuccess {
		return nil, g.err(r)
	}
	return &dlNVMLDev{g: g, d: d}, nil
}

// dlNVMLDev is one GPU: an nvmlDevice_t, a pointer into NVML's own memory.
type dlNVMLDev struct {
	g *dlNVML
	d C.pm_nvmlDevice_t
}

var errNVMLNoFunction = errors.New("function not in this driver")

func (d *dlNVMLDev) fn(name string) (unsafe.Pointer, error) {
	if fn := d.g.fns[name]; fn != nil {
		return fn, nil
	}
	return nil, fmt.Errorf("%s: %w", name, errNVMLNoFunction)
}

func (d *dlNVMLDev) Name() (string, error) {
	fn, err := d.fn("nvmlDeviceGetName")
	if err != nil {
		return "", err
	}
	var buf [96]C.char
	if r := nvmlReturn(C.pm_nvml_str(fn, d.d, &buf[0], C.uint(len(buf)))); r != nvmlSuccess {
		return "", d.g.err(r)
	}
	return C.GoString(&buf[0]), nil
}

func (d *dlNVMLDev) Architecture() (uint32, error) {
	fn, err := d.fn("nvmlDeviceGetArchitecture")
	if err != nil {
		return 0, err
	}
	var v C.uint
	r := nvmlReturn(C.pm_nvml_uint(fn, d.d, &v))
	return uint32(v), d.g.err(r)
}

func (d *dlNVMLDev) PCIDeviceID() (uint32, error) {
	fn, err := d.fn("nvmlDeviceGetPciInfo")
	if err != nil {
		return 0, err
	}
	var v C.uint
	r := nvmlReturn(C.pm_nvml_pci(fn, d.d, &v))
	return uint32(v), d.g.err(r)
}

func (d *dlNVMLDev) FieldValues(f []nvmlField) error {
	fn, err := d.fn("nvmlDeviceGetFieldValues")
	if err != nil || len(f) == 0 {
		return err
	}
	v := make([]C.pm_nvmlFieldValue_t, len(f))
	for i := range f {
		v[i].fieldId, v[i].scopeId = C.uint(f[i].ID), C.uint(f[i].Scope)
	}
	if r := nvmlReturn(C.pm_nvml_fields(fn, d.d, C.int(len(v)), &v[0])); r != nvmlSuccess {
		return d.g.err(r)
	}
	for i := range f {
		f[i].Type = uint32(v[i].valueType)
		f[i].Return = nvmlReturn(v[i].nvmlReturn)
		f[i].Value = *(*[8]byte)(unsafe.Pointer(&v[i].value))
	}
	return nil
}

func (d *dlNVMLDev) PowerUsage() (uint32, error) {
	var v C.uint
	r := nvmlReturn(C.pm_nvml_uint(d.g.fns["nvmlDeviceGetPowerUsage"], d.d, &v))
	return uint32(v), d.g.err(r)
}

func (d *dlNVMLDev) TotalEnergyConsumption() (uint64, error) {
	fn, err := d.fn("nvmlDeviceGetTotalEnergyConsumption")
	if err != nil {
		return 0, err
	}
	var v C.ulonglong
	r := nvmlReturn(C.pm_nvml_ull(fn, d.d, &v))
	return uint64(v), d.g.err(r)
}
